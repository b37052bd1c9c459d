import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  lastUserText,
  nextEvent,
  recordEvents,
  testSystem,
  warmTools,
} from "./support/test_system.ts";

const user = (text: string) => ({ type: "user_message" as const, text });

/** Calls tools on a user message, acknowledges tool results, thanks for task results. */
function scriptedModel(toolCalls: { name: string; input: unknown; id?: string }[]) {
  return startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "Thanks for the result." };
    if (last.includes("tool_result")) return { text: "Started; I will let you know." };
    return { toolCalls };
  });
}

function toolResults(request: { body: Anthropic.MessageCreateParams }) {
  return (request.body.messages.at(-1)!.content as Anthropic.ToolResultBlockParam[])
    .filter((block) => block.type === "tool_result");
}

Deno.test("a background tool answers at once; its result comes back as a new turn naming the task", async () => {
  await using api = scriptedModel([
    { id: "toolu_report", name: "slow_report", input: { ms: 300, topic: "sales" } },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const delivered = nextEvent(
    conversation,
    "turn_finished",
    (event) => event.text.includes("Thanks"),
  );

  const first = await conversation.send(user("Write the sales report."));
  assertEquals(first.status, "completed");
  const [call] = first.toolCalls;
  assertEquals([call.callId, call.status], ["toolu_report", "running"]);
  const taskId = call.taskId!;
  const [immediate] = toolResults(api.requests[1]);
  assertEquals(immediate.is_error, undefined);
  assertStringIncludes(
    immediate.content as string,
    `continues in the background as task ${taskId}`,
  );
  assertEquals(conversation.status.tasks, [{
    taskId,
    callId: "toolu_report",
    name: "slow_report",
  }]);

  await delivered;
  const taskTurn = lastUserText(api.requests.at(-1)!);
  assertStringIncludes(
    taskTurn,
    `[Background task ${taskId} (your slow_report call toolu_report) finished`,
  );
  assertStringIncludes(taskTurn, "Report on sales: all good.");
  const order = events.map((event) => event.type);
  assert(
    order.indexOf("turn_finished") < order.indexOf("task_finished"),
    "the first turn ended before the task did",
  );
  assertEquals((await system.tasks.get(taskId))?.task.state, "succeeded");
  await conversation.settled();
  assertEquals(conversation.status.tasks, []);
  assertEquals(conversation.history.length, 6);
});

Deno.test("calls past the turn limit continue as tasks; results landing out of order are all delivered", async () => {
  await using api = scriptedModel([
    { id: "toolu_long", name: "sleep", input: { ms: 2600, label: "long" } },
    { id: "toolu_short", name: "sleep", input: { ms: 1800, label: "short" } },
    { id: "toolu_quick", name: "sleep", input: { ms: 1, label: "quick" } },
  ]);
  // Room for the quick call to start its worker while the whole suite loads a 2-core machine.
  await using system = await testSystem(api, { turnLimitMs: 1_200 });
  await warmTools(system, ["sleep"]); // the quick call must not wait for a host to start
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  let taskTurns = 0;
  const bothDelivered = nextEvent(conversation, "turn_finished", () => ++taskTurns === 3);

  const first = await conversation.send(user("Sleep three ways."));
  assertEquals(first.toolCalls.map((call) => call.status), ["running", "running", "succeeded"]);
  assertEquals(
    events.filter((event) => event.type === "task_started").map((event) => event.reason),
    ["turn_limit", "turn_limit"],
  );
  await bothDelivered;
  const delivered = events.flatMap((event) =>
    event.type === "turn_started" && event.taskId ? [event.text] : []
  );
  assertEquals(delivered.length, 2);
  assertMatch(delivered[0], /toolu_short[\s\S]*"label":"short"/);
  assertMatch(delivered[1], /toolu_long[\s\S]*"label":"long"/);
  await conversation.settled();
});

Deno.test("a result that arrives after its call was reported as timed out is delivered, not dropped", async () => {
  await using api = scriptedModel([{ id: "toolu_stubborn", name: "stubborn", input: { ms: 10 } }]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const late = nextEvent(conversation, "turn_finished", (event) => event.text.includes("Thanks"));
  const first = await conversation.send(user("Go."));
  assertEquals(first.toolCalls[0].status, "timed_out");
  const [reported] = toolResults(api.requests[1]);
  assertEquals(reported.is_error, true);
  await late;
  const text = lastUserText(api.requests.at(-1)!);
  assertStringIncludes(text, "(your stubborn call toolu_stubborn) finished");
  assertStringIncludes(text, "finished 10 ms after being told to stop");
  await conversation.settled();
});
