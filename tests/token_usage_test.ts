import { assertEquals } from "@std/assert";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { recordEvents, testSystem } from "./support/test_system.ts";
import { startTestServer } from "./support/test_server.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";

/** Per turn: a call of `current_time`, then an answer; each response with its own token counts. */
function countingApi() {
  return startFakeMessagesApi([
    {
      toolCalls: [{ name: "current_time", input: {} }],
      usage: { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 80 },
    },
    { text: "Noon.", usage: { input_tokens: 130, output_tokens: 5, cache_read_input_tokens: 80 } },
    { text: "Still noon.", usage: { input_tokens: 200, output_tokens: 3 } },
  ]);
}

Deno.test("each model call's tokens are in its event, and summed in the turn's result and event", async () => {
  await using api = countingApi();
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const result = await conversation.send("What time is it?");
  const turnUsage = {
    inputTokens: 230,
    outputTokens: 25,
    cacheReadTokens: 80,
    cacheWriteTokens: 80,
  };
  assertEquals(result.usage, turnUsage);
  assertEquals(
    events.flatMap((event) =>
      event.type === "model_call_finished" ? [[event.step, event.stopReason, event.usage]] : []
    ),
    [
      [1, "tool_use", {
        inputTokens: 100,
        outputTokens: 20,
        cacheReadTokens: 0,
        cacheWriteTokens: 80,
      }],
      [2, "end_turn", {
        inputTokens: 130,
        outputTokens: 5,
        cacheReadTokens: 80,
        cacheWriteTokens: 0,
      }],
    ],
  );
  const finished = events.find((event) => event.type === "turn_finished");
  assertEquals(finished?.type === "turn_finished" && finished.usage, turnUsage);
});

Deno.test("over HTTP, the turn's result carries its tokens and GET the conversation's, from the journal", async () => {
  await using api = countingApi();
  const journal = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(journal) });
    await using server = startTestServer(system);
    const created = await post(`${server.url}/v1/conversations`, {});
    id = created.id;
    const first = await post(`${server.url}/v1/conversations/${id}/messages`, { content: "Time?" });
    assertEquals(first.usage.inputTokens, 230);
    const second = await post(`${server.url}/v1/conversations/${id}/messages`, { content: "Now?" });
    assertEquals(second.usage, {
      inputTokens: 200,
      outputTokens: 3,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
  }
  // A new process reads the sums back from the journal.
  await using system = await testSystem(api, {}, { journal: await KvJournal.open(journal) });
  await using server = startTestServer(system);
  const read = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
  assertEquals(read.usage, {
    inputTokens: 430,
    outputTokens: 28,
    cacheReadTokens: 80,
    cacheWriteTokens: 80,
  });
});

async function post(url: string, body: unknown) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return await response.json();
}
