import { assertEquals } from "@std/assert";
import { EVENT_ID_STRIDE, eventsOfRecords } from "./record_events.ts";
import type { JournalRecord } from "./records.ts";

const records: JournalRecord[] = [
  { type: "created", modelName: "claude-x", at: 1 },
  {
    type: "turn_started",
    turn: 1,
    cause: { type: "user_message", messageId: "m1", text: "Time?" },
    at: 2,
  },
  {
    type: "assistant",
    content: [
      { type: "text", text: "Checking.", citations: null },
      { type: "tool_use", id: "t1", name: "current_time", input: {} } as never,
    ],
    stopReason: "tool_use",
    usage: { inputTokens: 100, outputTokens: 20, cacheReadTokens: 0, cacheWriteTokens: 80 },
  },
  { type: "call", callId: "t1", state: "running", attempts: 1 },
  {
    type: "call",
    callId: "t1",
    state: "succeeded",
    reported: { content: "noon", isError: false },
    ms: 12,
  },
  {
    type: "assistant",
    content: [{ type: "text", text: "It is noon.", citations: null }],
    stopReason: "end_turn",
    usage: { inputTokens: 130, outputTokens: 5, cacheReadTokens: 80, cacheWriteTokens: 0 },
  },
  { type: "turn_ended", status: "completed", stopReason: "end_turn", text: "It is noon." },
];
const numbered = records.map((record, seq) => ({ seq, record }));

Deno.test("a journal's records become the durable events of the turn, with ids by sequence number", () => {
  const events = eventsOfRecords("c1", numbered, -1);
  const K = EVENT_ID_STRIDE;
  assertEquals(events.map((event) => [event.type, event.id]), [
    ["turn_started", 1 * K],
    ["model_call_started", 2 * K],
    ["text_delta", 2 * K + 1],
    ["model_call_finished", 2 * K + 2],
    ["tool_call_started", 3 * K],
    ["tool_call_finished", 4 * K],
    ["model_call_started", 5 * K],
    ["text_delta", 5 * K + 1],
    ["model_call_finished", 5 * K + 2],
    ["turn_finished", 6 * K],
  ]);
  assertEquals(
    events.flatMap((event) => event.type === "model_call_finished" ? [event.step] : []),
    [1, 2],
  );
  const finished = events.find((event) => event.type === "tool_call_finished");
  assertEquals(finished, {
    type: "tool_call_finished",
    callId: "t1",
    name: "current_time",
    status: "succeeded",
    ms: 12,
    content: "noon",
    conversationId: "c1",
    id: 4 * EVENT_ID_STRIDE,
    at: 2, // a record of before times were kept takes the time of the one before it
  });
  const end = events.at(-1);
  assertEquals(end?.type === "turn_finished" && [end.steps, end.usage], [2, {
    inputTokens: 230,
    outputTokens: 25,
    cacheReadTokens: 80,
    cacheWriteTokens: 80,
  }]);
});

Deno.test("only the records after a sequence number are replayed", () => {
  const events = eventsOfRecords("c1", numbered, 4);
  assertEquals(events.map((event) => event.type), [
    "model_call_started",
    "text_delta",
    "model_call_finished",
    "turn_finished",
  ]);
});
