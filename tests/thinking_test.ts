/**
 * Extended thinking and effort, turned on by the operator or per
 * conversation: the thinking streams as events, is journaled with its
 * signature and goes back to the model first with the calls it led to, as
 * the API requires (the fake refuses a request that drops or alters it).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { type FakeReply, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { recordEvents, testSystem } from "./support/test_system.ts";
import { postJson, startTestServer } from "./support/test_server.ts";
import { ConfigError } from "../src/config_error.ts";

const FIRST_THOUGHT = "The user wants the time; I should call the tool.";
const SECOND_THOUGHT = "The tool answered; now I can reply.";

/** A thought, a call of the time, another thought, the answer. */
const THINK_THEN_CALL: FakeReply[] = [
  {
    thinking: FIRST_THOUGHT,
    toolCalls: [{ name: "current_time", input: {} }],
  },
  { thinking: SECOND_THOUGHT, text: "It is noon." },
];

const thinkingBlocks = (history: Anthropic.MessageParam[]) =>
  history.flatMap((message) =>
    Array.isArray(message.content)
      ? message.content.filter((block) => block.type === "thinking")
      : []
  ) as Anthropic.ThinkingBlock[];

for (const streamed of [false, true]) {
  Deno.test(`a thinking turn with tool use${streamed ? ", streamed" : ""}: the thinking is shown, journaled with its signature and sent back first with the calls`, async () => {
    await using api = startFakeMessagesApi(THINK_THEN_CALL);
    await using system = await testSystem(api, { thinking: "adaptive", effort: "high" });
    const conversation = await system.createConversation();
    // A listener makes the model call stream; without one the reply comes whole.
    const events = streamed ? recordEvents(conversation) : [];
    const result = await conversation.send("What time is it?");
    assertEquals([result.status, result.steps], ["completed", 2], JSON.stringify(result));
    for (const { body } of api.requests) {
      assertEquals(body.thinking, { type: "adaptive" });
      assertEquals((body as { output_config?: unknown }).output_config, { effort: "high" });
    }
    // The second request sent the first reply back starting with its signed thinking.
    const sentBack = api.requests[1].body.messages[1].content as Anthropic.ContentBlockParam[];
    assertEquals(sentBack.map((block) => block.type), ["thinking", "tool_use"]);
    const journaled = thinkingBlocks(conversation.history);
    assertEquals(journaled.map((block) => block.thinking), [
      FIRST_THOUGHT,
      SECOND_THOUGHT,
    ]);
    assert(journaled.every((block) => block.signature.startsWith("sig_")));
    if (streamed) {
      const deltas = events.filter((event) => event.type === "thinking_delta");
      assert(deltas.length > 4, "thinking arrives in pieces");
      assertStringIncludes(
        deltas.map((event) => event.text).join(""),
        FIRST_THOUGHT,
      );
    }
  });
}

Deno.test("replayed events show each reply's thinking", async () => {
  await using api = startFakeMessagesApi(THINK_THEN_CALL);
  await using system = await testSystem(api, { thinking: "adaptive" });
  const conversation = await system.createConversation();
  await conversation.send("What time is it?");
  const replayed = [];
  for await (const event of conversation.eventsAfter(-1)) replayed.push(event);
  assertEquals(
    replayed.filter((event) => event.type === "thinking_delta").map((event) =>
      event.type === "thinking_delta" && event.text
    ),
    [FIRST_THOUGHT, SECOND_THOUGHT],
  );
});

Deno.test("a thinking budget the API would refuse is refused first, with the range", async () => {
  await using api = startFakeMessagesApi([]);
  await using system = await testSystem(api, { maxTokens: 8192 });
  await assertRejects(
    () => system.createConversation({ thinking: 512 }),
    ConfigError,
    "from 1024 to 8191 (below max_tokens, 8192)",
  );
  await assertRejects(
    () => system.createConversation({ thinking: 4096, maxTokens: 2048 }),
    ConfigError,
    "from 1024 to 2047",
  );
  await using server = startTestServer(system);
  const refused = await postJson(`${server.url}/v1/conversations`, { thinking: 9000 });
  assertEquals(refused.status, 400);
  assertStringIncludes((await refused.json()).error.message, "from 1024 to 8191");
  const unknown = await postJson(`${server.url}/v1/conversations`, { effort: "extreme" });
  assertEquals(unknown.status, 400);
  const created = await postJson(`${server.url}/v1/conversations`, {
    thinking: 2048,
    effort: "low",
  });
  assertEquals(created.status, 201);
  assertEquals(api.requests.length, 0, "nothing reached the API");
});

Deno.test("per conversation over HTTP: its budget and effort are what its requests carry", async () => {
  await using api = startFakeMessagesApi([{ thinking: "Short.", text: "Hi." }]);
  await using system = await testSystem(api, { maxTokens: 8192 });
  await using server = startTestServer(system);
  const { id } =
    await (await postJson(`${server.url}/v1/conversations`, { thinking: 2048, effort: "low" }))
      .json();
  const reply = await postJson(`${server.url}/v1/conversations/${id}/messages`, {
    content: "Hello",
  });
  assertEquals((await reply.json()).status, "completed");
  assertEquals(api.requests[0].body.thinking, { type: "enabled", budget_tokens: 2048 });
  assertEquals((api.requests[0].body as { output_config?: unknown }).output_config, {
    effort: "low",
  });
});
