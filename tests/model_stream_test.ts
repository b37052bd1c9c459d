/**
 * Model calls that never hang: a reply whose stream stalls or whose
 * connection drops is asked for again, and a turn whose replies keep being
 * cut short fails with a typed error, never hangs.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { type FakeReply, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { failureOf, recordEvents, testSystem } from "./support/test_system.ts";
import { AnthropicModel } from "../src/model/anthropic_model.ts";

async function conversationOn(
  replies: FakeReply[],
  model: { idleTimeoutMs?: number; callTimeoutMs?: number } = {},
) {
  const api = startFakeMessagesApi(replies);
  const system = await testSystem(api, {
    model: new AnthropicModel({ apiKey: "sk-ant-test", baseURL: api.url, ...model }),
  });
  const conversation = await system.createConversation();
  return {
    api,
    conversation,
    async [Symbol.asyncDispose]() {
      await system[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

const STALL: FakeReply = { text: "never", stall: true };
const DROP: FakeReply = { text: "Hello there, this is cut", dropAfterEvents: 5 };

Deno.test("a stream that stalls after message_start and a ping is asked for again, and the turn completes", async () => {
  await using test = await conversationOn([STALL, { text: "Here it is." }], { idleTimeoutMs: 300 });
  const events = recordEvents(test.conversation);
  const result = await test.conversation.send({ type: "user_message", text: "Hi" });
  assertEquals(result.status === "completed" && result.text, "Here it is.");
  const retried = events.find((event) => event.type === "model_call_retrying");
  assertEquals(retried?.type === "model_call_retrying" && retried.attempt, 2);
  assertStringIncludes(JSON.stringify(retried), "sent nothing for 300 ms");
  assertEquals(test.api.requests.length, 2);
});

Deno.test("a stream that keeps stalling fails the turn as a timeout after three attempts", async () => {
  await using test = await conversationOn([STALL, STALL, STALL], { idleTimeoutMs: 200 });
  recordEvents(test.conversation); // watched: streamed
  const error = failureOf(await test.conversation.send({ type: "user_message", text: "Hi" }));
  assertEquals(error.type, "timeout");
  assertEquals(test.api.requests.length, 3);
});

Deno.test("a dropped connection is a connection_error, retried, never an api_error", async () => {
  {
    await using test = await conversationOn([DROP, { text: "Whole." }]);
    recordEvents(test.conversation);
    const result = await test.conversation.send({ type: "user_message", text: "Hi" });
    assertEquals(result.status === "completed" && result.text, "Whole.");
  }
  await using test = await conversationOn([DROP, DROP, DROP]);
  recordEvents(test.conversation);
  const error = failureOf(await test.conversation.send({ type: "user_message", text: "Hi" }));
  assertEquals(error.type, "connection_error");
  assertStringIncludes(error.message, "dropped before its reply was whole");
});

Deno.test("an unstreamed reply that never comes ends at the call's time limit, retried, then a timeout", async () => {
  await using test = await conversationOn([STALL, STALL, STALL], { callTimeoutMs: 400 });
  const error = failureOf(await test.conversation.send({ type: "user_message", text: "Hi" }));
  assertEquals(error.type, "timeout");
  assertStringIncludes(error.message, "did not answer within 400 ms");
  assertEquals(test.api.requests.length, 3);
});

Deno.test("a slow reply that pings is not taken for a stalled one", async () => {
  // 300 ms between its events, more than the idle limit, with pings every 50 ms meanwhile.
  await using test = await conversationOn([{
    text: "Slow but steady.",
    eventDelayMs: 300,
    pingEveryMs: 50,
  }], { idleTimeoutMs: 150 });
  recordEvents(test.conversation);
  const result = await test.conversation.send({ type: "user_message", text: "Hi" });
  assertEquals(result.status === "completed" && result.text, "Slow but steady.");
  assertEquals(test.api.requests.length, 1);
});
