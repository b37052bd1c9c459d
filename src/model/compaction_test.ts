import { assert, assertEquals } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import {
  applyRecord,
  type ConversationState,
  historyOf,
  type JournalRecord,
  SUMMARY_HEADING,
} from "../journal/records.ts";
import { NO_USAGE } from "../token_usage.ts";
import {
  compactionPoint,
  halfwayPoint,
  isTooLong,
  shouldCompact,
  SUMMARIZE,
  summaryRequest,
} from "./compaction.ts";
import { ModelError } from "./model.ts";

/** A conversation of `turns` finished turns, each a question and an answer of `inputTokens`. */
function conversation(turns: number, inputTokens = 10): ConversationState {
  const state = { id: "c" } as ConversationState;
  const records: JournalRecord[] = [{ type: "created", modelName: "claude-x", at: 0 }];
  for (let turn = 1; turn <= turns; turn++) {
    const cause = { type: "user_message" as const, messageId: `m${turn}`, text: `Q${turn}` };
    records.push(
      { type: "turn_started", turn, cause, at: turn },
      {
        type: "assistant",
        content: [{ type: "text", text: `A${turn}`, citations: null }],
        stopReason: "end_turn",
        usage: { ...NO_USAGE, inputTokens },
      },
      { type: "turn_ended", status: "completed", stopReason: "end_turn", text: `A${turn}` },
    );
  }
  records.forEach((record) => applyRecord(state, record));
  return state;
}

const texts = (messages: Anthropic.MessageParam[]) =>
  messages.map((message) =>
    (message.content as Anthropic.TextBlockParam[]).map((block) => block.text).join(" | ")
  );

Deno.test("compaction keeps the newest turn whole and summarizes only what is before it", () => {
  const state = conversation(4);
  assertEquals(
    compactionPoint(state),
    6,
    "the start of turn 4 (transcript: Q1 A1 Q2 A2 Q3 A3 Q4 A4)",
  );
  assertEquals(compactionPoint(conversation(1)), undefined, "one turn: nothing before it");
  applyRecord(state, { type: "compacted", summary: "S", keepFrom: 6, usage: NO_USAGE, at: 9 });
  assertEquals(compactionPoint(state), undefined, "nothing new since");
  assertEquals(texts(historyOf(state)), [`${SUMMARY_HEADING}\nS | Q4`, "A4"]);
});

Deno.test("a summary request holds the history before the point, then the request to summarize", () => {
  const state = conversation(3);
  const request = summaryRequest(state, 4, []);
  assertEquals(texts(request.messages), ["Q1", "A1", "Q2", "A2", SUMMARIZE]);
  assertEquals(request.model, "claude-x");
});

Deno.test("a history too long to summarize at once is summarized from a turn halfway", () => {
  const state = conversation(9);
  const target = compactionPoint(state)!; // the start of turn 9
  const halfway = halfwayPoint(state, target)!;
  assert(halfway > 0 && halfway < target);
  assertEquals(state.transcript[halfway].type, "turn_started");
  assertEquals(halfwayPoint(conversation(2), 2), undefined, "no turn start between");
});

Deno.test("compaction starts at three quarters of the window, and only with something to summarize", () => {
  const settings = { enabled: true, windowTokens: 1_000 };
  assertEquals(shouldCompact(conversation(3, 740), settings), false);
  assertEquals(shouldCompact(conversation(3, 760), settings), true);
  assertEquals(
    shouldCompact(conversation(1, 5_000), settings),
    false,
    "one turn: nothing to summarize",
  );
  assertEquals(shouldCompact(conversation(3, 760), { ...settings, enabled: false }), false);
});

Deno.test("the API's answers for a request too long are told apart from other errors", () => {
  const too = (type: string, message: string, status: number) =>
    isTooLong(new ModelError(type, message, status));
  assert(too("invalid_request_error", "prompt is too long: 5651 tokens > 3000 maximum", 400));
  assert(too("request_too_large", "Request exceeds the maximum size", 413));
  assert(!too("invalid_request_error", "max_tokens: Field required", 400));
  assert(!too("overloaded_error", "Overloaded", 529));
});
