import { assertEquals } from "@std/assert";
import { applyRecord, type ConversationState, historyOf, type JournalRecord } from "./records.ts";

const NO_TOKENS = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

function userTurn(turn: number, text: string): JournalRecord {
  return {
    type: "turn_started",
    turn,
    cause: { type: "user_message", messageId: `m${turn}`, text },
    at: 0,
  };
}

function toolUse(id: string): JournalRecord {
  return {
    type: "assistant",
    content: [{ type: "tool_use", id, name: "shout", input: { text: id } }],
    stopReason: "tool_use",
    usage: NO_TOKENS,
  } as unknown as JournalRecord;
}

function answer(text: string): JournalRecord {
  return {
    type: "assistant",
    content: [{ type: "text", text, citations: null }],
    stopReason: "end_turn",
    usage: NO_TOKENS,
  } as unknown as JournalRecord;
}

function result(callId: string, content: string): JournalRecord {
  return {
    type: "call",
    callId,
    state: "succeeded",
    reported: { content, isError: false },
    at: 0,
  };
}

const ended: JournalRecord = {
  type: "turn_ended",
  status: "completed",
  stopReason: "end_turn",
  text: "",
};

/** Three turns: one with a call, one that failed after the user spoke, one still open. */
const RECORDS: JournalRecord[] = [
  { type: "created", modelName: "claude-x", at: 0 },
  userTurn(1, "Shout a."),
  toolUse("toolu_a"),
  { type: "call", callId: "toolu_a", state: "running", attempts: 1, at: 0 },
  result("toolu_a", "A"),
  answer("A!"),
  ended,
  userTurn(2, "Shout b."),
  { type: "turn_ended", status: "failed", error: { type: "api_error", message: "down" } },
  userTurn(3, "Shout c."),
  toolUse("toolu_c"),
  result("toolu_c", "C"),
];

function stateOf(records: JournalRecord[]): ConversationState {
  const state = { id: "c1" } as ConversationState;
  for (const record of records) applyRecord(state, record);
  return state;
}

Deno.test("the history pairs each tool_use with its result and merges consecutive user content", () => {
  assertEquals(historyOf(stateOf(RECORDS)).map((message) => [message.role, message.content]), [
    ["user", [{ type: "text", text: "Shout a." }]],
    ["assistant", (RECORDS[2] as { content: unknown }).content],
    ["user", [{ type: "tool_result", tool_use_id: "toolu_a", content: "A" }]],
    ["assistant", (RECORDS[5] as { content: unknown }).content],
    ["user", [{ type: "text", text: "Shout b." }, { type: "text", text: "Shout c." }]],
    ["assistant", (RECORDS[10] as { content: unknown }).content],
    ["user", [{ type: "tool_result", tool_use_id: "toolu_c", content: "C" }]],
  ]);
});

Deno.test("a result not yet reported is left out of the history", () => {
  const history = historyOf(stateOf(RECORDS.slice(0, 11)));
  assertEquals(history.at(-1)?.role, "assistant");
});

Deno.test("the history of a state that grows record by record is that of its records read at once", () => {
  const growing = { id: "c1" } as ConversationState;
  RECORDS.forEach((record, i) => {
    applyRecord(growing, record);
    if (i === 0) return;
    assertEquals(historyOf(growing), historyOf(stateOf(RECORDS.slice(0, i + 1))), `after ${i + 1}`);
  });
});
