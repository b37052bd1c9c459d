/**
 * Every way a model's reply can end, against the fake Messages API through
 * the real SDK, streamed (someone watches) and in one piece (no one does).
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { type FakeReply, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { failureOf, recordEvents, testSystem } from "./support/test_system.ts";
import type { ConversationEvent } from "../src/events.ts";
import { postJson, startTestServer } from "./support/test_server.ts";
import { parseCliArgs } from "../src/cli/args.ts";
import { ConfigError } from "../src/config_error.ts";

const WAYS = [{ watched: true }, { watched: false }];

/** Runs one turn of "Go." against `replies`, watched or not; returns what a test looks at. */
async function turn(replies: FakeReply[], { watched }: { watched: boolean }, maxTokens = 1024) {
  const api = startFakeMessagesApi(replies);
  const system = await testSystem(api, { maxTokens });
  const conversation = await system.createConversation();
  const events: ConversationEvent[] = watched ? recordEvents(conversation) : [];
  const result = await conversation.send({ type: "user_message", text: "Go." });
  return {
    api,
    system,
    conversation,
    result,
    started: () => events.filter((event) => event.type === "tool_call_started").length,
    async [Symbol.asyncDispose]() {
      await system[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

const WRITE = { name: "sleep", input: { ms: 1, label: "Q3 revenue 1,204,331" } };

Deno.test("a tool call cut by max_tokens never runs; the turn asks again with twice the room", async () => {
  for (const way of WAYS) {
    await using run = await turn([
      { toolCalls: [WRITE], stopReason: "max_tokens", cutToolInputAt: 20 },
      { toolCalls: [WRITE] },
      { text: "Written." },
    ], way);
    assertEquals(run.result.status, "completed", JSON.stringify(way));
    const [cut, again, after] = run.api.requests.map((request) => request.body);
    assertEquals([cut.max_tokens, again.max_tokens, after.max_tokens], [1024, 2048, 2048]);
    assertEquals(again.messages, cut.messages, "the cut reply is not sent back");
    assertEquals(run.result.status === "completed" && run.result.toolCalls.length, 1);
    if (way.watched) assertEquals(run.started(), 1, "only the whole call started");
  }
});

Deno.test("a tool call still cut with the most room fails the turn, and nothing runs", async () => {
  for (const way of WAYS) {
    await using run = await turn(
      [{ toolCalls: [WRITE], stopReason: "max_tokens", cutToolInputAt: 20 }],
      way,
      64_000,
    );
    const error = failureOf(run.result);
    assertEquals(error.type, "max_tokens");
    assertStringIncludes(error.message, "cut at 64000 tokens in the middle of a tool call");
    assertEquals(run.api.requests.length, 1);
    assertEquals(run.result.toolCalls, []);
  }
});

Deno.test("pause_turn continues by itself, sending the reply back with no new user message, up to 5 times", async () => {
  const search = {
    type: "server_tool_use",
    id: "srvtoolu_1",
    name: "web_search",
    input: { query: "Oslo weather" },
  } as unknown as Anthropic.ContentBlock;
  for (const way of WAYS) {
    await using run = await turn([
      { content: [search], stopReason: "pause_turn" },
      { text: "It is cold in Oslo." },
    ], way);
    assertEquals(run.result.status === "completed" && run.result.text, "It is cold in Oslo.");
    const [, second] = run.api.requests.map((request) => request.body);
    assertEquals(second.messages.length, 2);
    assertEquals(second.messages[1], { role: "assistant", content: [search] });
  }
  await using paused = await turn(
    Array.from({ length: 6 }, () => ({ content: [search], stopReason: "pause_turn" as const })),
    WAYS[1],
  );
  assertEquals(failureOf(paused.result).type, "pause_limit");
  assertEquals(paused.api.requests.length, 6);
});

Deno.test("a refusal fails the turn with the API's stop_details, and its text is never sent again", async () => {
  for (const way of WAYS) {
    const stopDetails: Anthropic.RefusalStopDetails = {
      type: "refusal",
      category: "cyber",
      explanation: "This looks like malware development.",
    };
    await using run = await turn([
      { text: "Here is how to wr", stopReason: "refusal", stopDetails },
      { text: "Fine." },
    ], way);
    const error = failureOf(run.result);
    assertEquals(error.type, "refusal");
    assertEquals(error.details, stopDetails);
    assertStringIncludes(error.message, "This looks like malware development.");
    await run.conversation.send({ type: "user_message", text: "Something else." });
    const next = JSON.stringify(run.api.requests[1].body.messages);
    assert(!next.includes("Here is how to wr"), next);
    // Kept for audit in the journal.
    const kept = await run.system.journal.records(run.conversation.id);
    assert(kept.some(({ record }) => record.type === "assistant" && record.withheld === "refusal"));
  }
});

Deno.test("malformed replies and unknown stop reasons fail the turn; nothing runs, and the reply is never sent again", async () => {
  const cases: [FakeReply, string][] = [
    [{ content: [toolUse("toolu_a", "not an object")], stopReason: "tool_use" }, "not an object"],
    [{ content: [toolUse("toolu_b", {}), toolUse("toolu_b", {})], stopReason: "tool_use" }, "id"],
    [{
      content: [{ type: "hologram" } as unknown as Anthropic.ContentBlock],
      stopReason: "end_turn",
    }, 'unknown type "hologram"'],
    [{
      toolCalls: [WRITE],
      stopReason: "dream_state" as Anthropic.StopReason,
    }, '"dream_state"'],
  ];
  for (const [reply, says] of cases) {
    await using run = await turn([reply, { text: "Recovered." }], WAYS[1]);
    const error = failureOf(run.result);
    assertStringIncludes(error.message, says);
    assertEquals(run.result.toolCalls, []);
    const next = await run.conversation.send({ type: "user_message", text: "Again." });
    assertEquals(next.status, "completed", "a later message is not poisoned by it");
    assertEquals(run.api.requests[1].body.messages.length, 1);
  }
});

Deno.test("a reply cut by the context window runs none of its calls", async () => {
  await using run = await turn(
    [{ toolCalls: [WRITE], stopReason: "model_context_window_exceeded" }],
    WAYS[0],
  );
  assertEquals(failureOf(run.result).type, "context_window_exceeded");
  assertEquals(run.started(), 0);
});

function toolUse(id: string, input: unknown): Anthropic.ContentBlock {
  return { type: "tool_use", id, name: "sleep", input } as Anthropic.ContentBlock;
}

Deno.test("the room a model call starts with is set per conversation over HTTP, and by --max-tokens", async () => {
  await using api = startFakeMessagesApi(() => ({ text: "Short." }));
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
  const { id } = await (await post("/v1/conversations", { maxTokens: 300 })).json();
  await (await post(`/v1/conversations/${id}/messages`, { content: "Hi" })).body?.cancel();
  assertEquals(api.requests[0].body.max_tokens, 300);
  const refused = await post("/v1/conversations", { maxTokens: 64_001 });
  assertEquals(refused.status, 400);
  assertStringIncludes((await refused.json()).error.message, "maxTokens");
  assertEquals(parseCliArgs(["--max-tokens", "2000", "Hi"]).maxTokens, 2000);
  assertThrows(() => parseCliArgs(["--max-tokens", "64001"]), ConfigError, "--max-tokens");
});

Deno.test("a batch of calls whose results would make a request too large is cut to fit, and the turn completes", async () => {
  const calls = Array.from({ length: 40 }, () => ({ name: "big", input: { bytes: 1_000_000 } }));
  await using run = await turn([{ toolCalls: calls }, { text: "Read them." }], WAYS[1]);
  assertEquals(run.result.status, "completed", JSON.stringify(run.result).slice(0, 300));
  const sent = JSON.stringify(run.api.requests[1].body);
  assert(sent.length < 20_000_000, `the request carried ${sent.length} characters`);
  assertStringIncludes(sent, "[Truncated by the runtime");
});
