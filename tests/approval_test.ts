import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import type { AgentSystem } from "../actors/agent_system.ts";
import { CallSlots } from "../actors/call_slots.ts";
import type { TurnResult } from "../actors/supervisor/conversation_supervisor.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { readEvents, startTestServer } from "./support/test_server.ts";
import {
  conversationWhen,
  journaledServerEnv,
  request,
  sendWithoutWaiting,
  startServerProcess,
} from "./support/server_process.ts";
import { nextEvent, recordEvents, testSystem } from "./support/test_system.ts";

/** Asks for a guarded call and two sleeps at once; then repeats the results it got. */
function guardedModel() {
  return startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!.content as Anthropic.ContentBlockParam[];
    if (last[0].type === "tool_result") {
      return { text: JSON.stringify(last.map((block) => block as Anthropic.ToolResultBlockParam)) };
    }
    return {
      toolCalls: [
        { name: "guarded", input: { say: "hello" } },
        { name: "sleep", input: { ms: 10, label: "a" } },
        { name: "sleep", input: { ms: 10, label: "b" } },
      ],
    };
  });
}

const decide = (url: string, id: string, callId: string, body: unknown) =>
  fetch(`${url}/v1/conversations/${id}/calls/${callId}/approval`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** Starts a turn and resolves once its guarded call awaits approval. */
async function startGuardedTurn(system: AgentSystem) {
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const awaiting = nextEvent(conversation, "tool_call_awaiting_approval");
  const turn = conversation.send({ type: "user_message", text: "go" });
  const { callId } = await awaiting;
  return { conversation, events, turn, callId };
}

/** What the model was told of the guarded call, as it repeated it. */
function guardedResult(result: TurnResult): Anthropic.ToolResultBlockParam {
  if (result.status !== "completed") throw new Error(`the turn ${result.status}`);
  return (JSON.parse(result.text) as Anthropic.ToolResultBlockParam[])[0];
}

Deno.test("a call that needs approval holds no worker while it waits, and runs once approved over HTTP", async () => {
  await using api = guardedModel();
  // One worker slot: if the waiting call held it, the sleeps could not run before the decision.
  await using system = await testSystem(api, {
    slots: new CallSlots({ max: 1, maxQueued: 10 }),
  });
  await using server = startTestServer(system);
  const { conversation, events, turn, callId } = await startGuardedTurn(system);
  const sleeps = () => events.filter((e) => e.type === "tool_call_finished" && e.name === "sleep");
  while (sleeps().length < 2) await nextEvent(conversation, "tool_call_finished");
  assertEquals(
    events.filter((e) => e.type === "tool_call_started").map((e) =>
      e.type === "tool_call_started" && e.name
    ),
    ["sleep", "sleep"],
    "the guarded call has not started",
  );

  const approved = await decide(server.url, conversation.id, callId, { approved: true });
  assertEquals([approved.status, await approved.json()], [200, { callId, approved: true }]);
  const result = await turn;
  assertEquals(result.toolCalls.map((call) => call.status), [
    "succeeded",
    "succeeded",
    "succeeded",
  ]);
  assertEquals(guardedResult(result).content, "said: hello");
  assert(events.some((e) => e.type === "tool_call_approved" && e.callId === callId));

  const again = await decide(server.url, conversation.id, callId, { approved: false });
  assertEquals(again.status, 409);
  assertStringIncludes((await again.json()).error.message, "not awaiting approval");
});

Deno.test("a denied call reaches the model as an error with the reason, and never runs", async () => {
  await using api = guardedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { conversation, events, turn, callId } = await startGuardedTurn(system);

  const unknown = await decide(server.url, conversation.id, "toolu_nope", { approved: true });
  assertEquals(unknown.status, 404);
  const malformed = await decide(server.url, conversation.id, callId, { approved: "yes" });
  assertEquals(malformed.status, 400);
  assertStringIncludes(JSON.stringify(await malformed.json()), "approved");

  const denied = await decide(server.url, conversation.id, callId, {
    approved: false,
    reason: "not on a Friday",
  });
  assertEquals(denied.status, 200);
  const result = await turn;
  assertEquals(result.toolCalls[0].status, "failed");
  assertEquals(guardedResult(result), {
    type: "tool_result",
    tool_use_id: callId,
    content: "The call was denied, so it did not run: not on a Friday",
    is_error: true,
  });
  assert(!events.some((e) => e.type === "tool_call_started" && e.callId === callId));
  assert(
    events.some((e) =>
      e.type === "tool_call_denied" && e.callId === callId && e.reason === "not on a Friday"
    ),
  );
  // Replayed from the journal, the decision is there too, and no start that never was.
  const replayed = await Array.fromAsync(conversation.eventsAfter(-1));
  assertEquals(
    replayed.filter((e) => e.type.startsWith("tool_call_") && "callId" in e && e.callId === callId)
      .map((e) => e.type),
    ["tool_call_awaiting_approval", "tool_call_denied", "tool_call_finished"],
  );
});

Deno.test("a call no one decides is denied once its approval time runs out", async () => {
  await using api = guardedModel();
  await using system = await testSystem(api, { approvalTimeoutMs: 300 });
  await using server = startTestServer(system);
  const conversation = await system.createConversation();
  const awaiting = nextEvent(conversation, "tool_call_awaiting_approval");
  const denied = nextEvent(conversation, "tool_call_denied");
  const turn = conversation.send({ type: "user_message", text: "go" });
  const { callId, expiresAt } = await awaiting;
  assert(expiresAt !== undefined && expiresAt > Date.now() - 1000);
  assertEquals((await denied).reason, "no one decided in time");
  const result = await turn;
  assertEquals(
    guardedResult(result).content,
    "The call was denied, so it did not run: no one decided in time",
  );
  const late = await decide(server.url, conversation.id, callId, { approved: true });
  assertEquals(late.status, 409);
});

Deno.test("a call waiting for approval shows in GET, still waits after its server stops and restarts, and runs once approved on the new server", async () => {
  await using api = guardedModel();
  const env = await journaledServerEnv(api.url);
  const first = await startServerProcess({ ...env, AGENT_DRAIN_MS: "0" });
  const id = (await request(`${first.url}/v1/conversations`, "POST", {})).body.id;
  const events = await fetch(`${first.url}/v1/conversations/${id}/events`);
  sendWithoutWaiting(first.url, id, "go");
  const awaiting = await readEvents(events, (e) => e.type === "tool_call_awaiting_approval");
  const { callId } = awaiting.at(-1) as unknown as { callId: string };
  const waiting = (await request(`${first.url}/v1/conversations/${id}`, "GET")).body;
  assertEquals(
    waiting.status.callsInFlight.find((call: { callId: string }) => call.callId === callId)?.state,
    "awaiting_approval",
  );
  first.child.kill("SIGTERM");
  await first.child.status;
  await first[Symbol.asyncDispose]();

  await using second = await startServerProcess(env);
  const approval = await request(
    `${second.url}/v1/conversations/${id}/calls/${callId}/approval`,
    "POST",
    { approved: true },
  );
  assertEquals(approval.status, 200);
  const ended = await conversationWhen(
    second.url,
    id,
    (body) => body.status.state === "idle" && body.history.length === 4,
  );
  const told = JSON.stringify(ended.history.at(-1));
  assertStringIncludes(told, "said: hello", "the approved call ran, after the restart");
});

Deno.test("a tool's needsApproval function decides per input, in the tool's worker: a small payment runs, a large one waits for a person, a check that throws fails the call", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!.content as Anthropic.ContentBlockParam[];
    if (last[0].type === "tool_result") return { text: JSON.stringify(last) };
    return { toolCalls: [5, 500, -1].map((amount) => ({ name: "pay", input: { amount } })) };
  });
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const awaiting = nextEvent(conversation, "tool_call_awaiting_approval");
  const turn = conversation.send({ type: "user_message", text: "pay" });
  const { callId, input } = await awaiting;
  assertEquals(input, { amount: 500 });
  while (!events.some((e) => e.type === "tool_call_finished" && e.status === "succeeded")) {
    await nextEvent(conversation, "tool_call_finished");
  }
  assertEquals(await conversation.decide(callId, { approved: true }), "decided");
  const result = await turn;
  if (result.status !== "completed") throw new Error(`the turn ${result.status}`);
  const told = (JSON.parse(result.text) as Anthropic.ToolResultBlockParam[]).map((
    block,
  ) => [block.content, block.is_error ?? false]);
  assertEquals(told.slice(0, 2), [["paid 5", false], ["paid 500", false]]);
  assertStringIncludes(String(told[2][0]), "needsApproval check failed");
  assertStringIncludes(String(told[2][0]), "a negative amount (-1) cannot be paid");
  assertEquals(told[2][1], true);
  const asked = events.filter((e) => e.type === "tool_call_awaiting_approval");
  assertEquals(asked.length, 1, "only the large payment waited for a person");
});
