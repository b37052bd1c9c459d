/**
 * A conversation that outgrows the context window is compacted, never dead:
 * against a fake Messages API with a small window, which refuses a longer
 * request with the API's 400 "prompt is too long".
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type FakeScript, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { failureOf, lastUserText, testSystem } from "./support/test_system.ts";
import { SUMMARIZE } from "../src/model/compaction.ts";
import { SUMMARY_HEADING } from "../src/journal/records.ts";
import { Journal } from "../src/journal/journal.ts";

const WINDOW = 3_000;

/** Answers each message at some length; answers a request to summarize with a short summary. */
const chatty: FakeScript = (request) =>
  lastUserText(request).includes("Summarize our conversation")
    ? { text: `Summary: we talked about ${request.body.messages.length} messages of numbers.` }
    : { text: `Noted, ${"and so on ".repeat(25)}` };

const message = (n: number) => `Message ${n}: ${"a number ".repeat(40)}`;

const summaries = (requests: { body: { messages: unknown[] } }[]) =>
  requests.filter((request) => JSON.stringify(request.body.messages).includes(SUMMARIZE));

Deno.test("a 300-turn conversation against a small window completes every turn, its requests under the window", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  await using system = await testSystem(api, {
    compaction: { enabled: true, windowTokens: WINDOW },
  });
  const conversation = await system.createConversation({ tools: [] });
  for (let n = 1; n <= 300; n++) {
    const result = await conversation.send({ type: "user_message", text: message(n) });
    assertEquals(result.status, "completed", `turn ${n}: ${JSON.stringify(result)}`);
  }
  // Compacted before the window was reached: no request was ever refused.
  assertEquals(api.requests.length, 300 + summaries(api.requests).length);
  assert(summaries(api.requests).length >= 10, "compacted again and again");
  const last = api.requests.at(-1)!.body.messages;
  assertStringIncludes(JSON.stringify(last[0]), SUMMARY_HEADING);
  // A person still reads the whole history.
  assertEquals(conversation.history.length, 600);
});

Deno.test("a request the API refuses as too long is compacted and asked again; a restart keeps the summary", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    // The window the runtime believes in is larger: only the API's refusal tells it.
    await using system = await testSystem(api, {}, { journal: await Journal.open(path) });
    const conversation = await system.createConversation({ tools: [] });
    id = conversation.id;
    for (let n = 1; n <= 20; n++) {
      const result = await conversation.send({ type: "user_message", text: message(n) });
      assertEquals(result.status, "completed", `turn ${n}`);
    }
  }
  assert(summaries(api.requests).length >= 1);
  await using restarted = await testSystem(api, {}, { journal: await Journal.open(path) });
  const conversation = (await restarted.get(id))!;
  const before = summaries(api.requests).length;
  const result = await conversation.send({ type: "user_message", text: message(21) });
  assertEquals(result.status, "completed");
  assertEquals(summaries(api.requests).length, before, "not compacted again");
  assertStringIncludes(JSON.stringify(api.requests.at(-1)!.body.messages[0]), SUMMARY_HEADING);
});

Deno.test("with compaction off, a conversation that outgrows the window fails its turn with the API's error", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  await using system = await testSystem(api, {
    compaction: { enabled: false, windowTokens: WINDOW },
  });
  const conversation = await system.createConversation({ tools: [] });
  for (let n = 1;; n++) {
    const result = await conversation.send({ type: "user_message", text: message(n) });
    if (result.status === "completed") continue;
    assertStringIncludes(failureOf(result).message, "prompt is too long");
    break;
  }
  assertEquals(summaries(api.requests).length, 0);
});
