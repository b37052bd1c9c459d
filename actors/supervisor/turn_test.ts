import { assertEquals } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import {
  applyRecord,
  type ConversationState,
  type JournalRecord,
} from "../../src/journal/records.ts";
import { usageOf } from "../../src/token_usage.ts";
import { DEFAULT_COMPACTION } from "../../src/model/compaction.ts";
import { MAX_OUTPUT_TOKENS, MAX_PAUSES } from "../../src/model/reply.ts";
import {
  INTERRUPTED_CALL,
  newTurn,
  stepTurn,
  type Turn,
  type TurnEffect,
  type TurnMessage,
  type TurnSettings,
  type TurnStep,
} from "./turn.ts";

const NOW = 1_700_000_000_000;
const SETTINGS: TurnSettings = {
  maxSteps: 10,
  compaction: { enabled: true, windowTokens: 1000 },
  isIdempotent: (name) => name === "lookup",
  now: NOW,
};

const text = (value: string) => ({ type: "text", text: value, citations: null });
const toolUse = (id: string, name = "write", input: unknown = { file: "a" }) => ({
  type: "tool_use",
  id,
  name,
  input,
});

function reply(stop: string | null, content: unknown[], inputTokens = 10): Anthropic.Message {
  return {
    id: "msg",
    type: "message",
    role: "assistant",
    model: "claude-x",
    stop_reason: stop,
    content,
    usage: { input_tokens: inputTokens, output_tokens: 5 },
  } as Anthropic.Message;
}

function started(turn: number, text = "Hi"): JournalRecord {
  return {
    type: "turn_started",
    turn,
    cause: { type: "user_message", messageId: `m${turn}`, text },
    at: 1,
  };
}

function assistant(message: Anthropic.Message): JournalRecord {
  const { content, stop_reason: stopReason, usage } = message;
  return { type: "assistant", content, stopReason, usage: usageOf(usage) };
}

const ENDED: JournalRecord = {
  type: "turn_ended",
  status: "completed",
  stopReason: "end_turn",
  text: "ok",
};

/** A conversation as its journal makes it, from these records. */
function conversation(...records: JournalRecord[]): ConversationState {
  const state = applyRecord({ id: "c1" } as ConversationState, {
    type: "created",
    modelName: "claude-x",
    at: 0,
  });
  for (const record of records) applyRecord(state, record);
  return state;
}

/** A conversation whose open third turn follows two whole turns: it can be compacted. */
function longConversation(): ConversationState {
  const answer = assistant(reply("end_turn", [text("ok")]));
  return conversation(started(1), answer, ENDED, started(2), answer, ENDED, started(3));
}

/** Journals the call `callId` as succeeded with `content`, as its batch would. */
function succeeded(state: ConversationState, callId: string, content = ""): void {
  applyRecord(state, {
    type: "call",
    callId,
    state: "succeeded",
    reported: { content, isError: false },
  });
}

/** Steps through `messages` from `turn`, as the interpreter would, applying each step's records. */
function run(state: ConversationState, turn: Turn, ...messages: TurnMessage[]): TurnStep {
  let last: TurnStep = { turn, records: [], effects: [] };
  for (const message of messages) {
    last = stepTurn(state, last.turn, message, SETTINGS);
    for (const record of last.records) applyRecord(state, record);
  }
  return last;
}

/** `record`, which must be of type `type`. */
function ofType<T extends JournalRecord["type"]>(
  record: JournalRecord,
  type: T,
): Extract<JournalRecord, { type: T }> {
  assertEquals(record.type, type);
  return record as Extract<JournalRecord, { type: T }>;
}

const effectTypes = (step: TurnStep) => step.effects.map((effect) => effect.type);
const finished = (step: TurnStep) =>
  step.effects.find((effect): effect is Extract<TurnEffect, { type: "finish" }> =>
    effect.type === "finish"
  );
const errorType = (step: TurnStep) => {
  const outcome = finished(step)?.outcome;
  return outcome && "type" in outcome ? outcome.type : undefined;
};

Deno.test("stepTurn: a new turn asks the model with the room it starts with", () => {
  const step = run(conversation(started(1)), newTurn(2048), { type: "proceed" });
  assertEquals(step.effects, [{ type: "ask_model", step: 1, maxTokens: 2048 }]);
  assertEquals(step.turn.phase, "asking");
});

/** Each way a reply can end: what is journaled, what the turn does next, how it ends. */
const REPLIES: {
  what: string;
  reply: Anthropic.Message;
  effects: TurnEffect["type"][];
  withheld?: string;
  error?: string;
}[] = [
  { what: "calls asked for", reply: reply("tool_use", [toolUse("a")]), effects: ["run_calls"] },
  { what: "an answer", reply: reply("end_turn", [text("Done.")]), effects: ["finish"] },
  { what: "text cut short", reply: reply("max_tokens", [text("Long")]), effects: ["finish"] },
  {
    what: "a call cut by max_tokens",
    reply: reply("max_tokens", [toolUse("a")]),
    effects: ["proceed"],
    withheld: "truncated",
  },
  {
    what: "a pause",
    reply: reply("pause_turn", [{ type: "server_tool_use", id: "s" }]),
    effects: ["proceed"],
  },
  {
    what: "a refusal",
    reply: reply("refusal", [text("I can")]),
    effects: ["finish"],
    withheld: "refusal",
    error: "refusal",
  },
  {
    what: "an unknown stop reason",
    reply: reply("dreaming", [toolUse("a")]),
    effects: ["finish"],
    withheld: "malformed",
    error: "unknown_stop_reason",
  },
  {
    what: "a malformed reply",
    reply: reply("tool_use", [toolUse("a", "write", [1])]),
    effects: ["finish"],
    withheld: "malformed",
    error: "malformed_reply",
  },
  {
    what: "the window exceeded, nothing to compact",
    reply: reply("model_context_window_exceeded", [text("")]),
    effects: ["finish"],
    error: "context_window_exceeded",
  },
];

Deno.test("stepTurn: every way a reply can end is journaled, and only calls of a whole tool_use reply run", () => {
  for (const { what, reply, effects, withheld, error } of REPLIES) {
    const state = conversation(started(1));
    const step = run(state, newTurn(1024), { type: "proceed" }, { type: "reply", reply });
    assertEquals(effectTypes(step), effects, what);
    assertEquals(ofType(step.records[0], "assistant").withheld, withheld, what);
    assertEquals(errorType(step), error, what);
  }
});

Deno.test("stepTurn: a reply cut inside a tool call is asked again with twice the room, up to the model's limit", () => {
  const state = conversation(started(1));
  const cut = { type: "reply", reply: reply("max_tokens", [toolUse("a")]) } as const;
  let step = run(state, newTurn(16_000), { type: "proceed" }, cut, { type: "proceed" });
  assertEquals(step.effects, [{ type: "ask_model", step: 2, maxTokens: 32_000 }]);
  step = run(state, step.turn, cut, { type: "proceed" });
  assertEquals(step.effects, [{ type: "ask_model", step: 3, maxTokens: MAX_OUTPUT_TOKENS }]);
  step = run(state, step.turn, cut);
  assertEquals(errorType(step), "max_tokens");
  assertEquals(finished(step)?.steps, 3);
});

Deno.test("stepTurn: pause_turn goes on by itself, with no user message, up to the bound", () => {
  const state = conversation(started(1));
  const pause = {
    type: "reply",
    reply: reply("pause_turn", [{ type: "server_tool_use", id: "s" }]),
  } as const;
  let step = run(state, newTurn(1024), { type: "proceed" });
  for (let pauses = 1; pauses <= MAX_PAUSES; pauses++) {
    step = run(state, step.turn, pause, { type: "proceed" });
    assertEquals(effectTypes(step), ["ask_model"]);
  }
  step = run(state, step.turn, pause);
  assertEquals(errorType(step), "pause_limit");
  assertEquals(state.openTurn, undefined);
});

Deno.test("stepTurn: the answer and the end of its turn are one write, with the turn's steps and tokens", () => {
  const state = conversation(started(1));
  const step = run(state, newTurn(1024), { type: "proceed" }, {
    type: "reply",
    reply: reply("end_turn", [text("Done.")], 42),
  });
  assertEquals(step.records.map((record) => record.type), ["assistant", "turn_ended"]);
  assertEquals(finished(step)?.outcome, { stopReason: "end_turn", text: "Done." });
  assertEquals([finished(step)?.steps, finished(step)?.usage.inputTokens], [1, 42]);
  assertEquals(step.turn, { phase: "ended" });
});

Deno.test("stepTurn: calls that settle lead to the next model call; calls still unreported run first", () => {
  const state = conversation(started(1));
  let step = run(state, newTurn(1024), { type: "proceed" }, {
    type: "reply",
    reply: reply("tool_use", [toolUse("a"), toolUse("b")]),
  });
  succeeded(state, "a", "A");
  step = run(state, step.turn, { type: "calls_settled" });
  assertEquals(effectTypes(step), ["run_calls"]); // b has no result yet
  succeeded(state, "b", "B");
  step = run(state, step.turn, { type: "calls_settled" });
  assertEquals(step.effects, [{ type: "ask_model", step: 2, maxTokens: 1024 }]);
});

Deno.test("stepTurn: a turn stops asking after maxSteps model calls", () => {
  const state = conversation(started(1));
  let step = run(state, newTurn(1024), { type: "proceed" });
  for (let n = 0; n < SETTINGS.maxSteps; n++) {
    step = run(state, step.turn, { type: "reply", reply: reply("tool_use", [toolUse(`c${n}`)]) });
    succeeded(state, `c${n}`, "");
    step = run(state, step.turn, { type: "calls_settled" });
  }
  assertEquals(errorType(step), "max_steps");
});

Deno.test("stepTurn: a cancel stops what runs in every phase, and the turn ends cancelled", () => {
  const cases: [string, ConversationState, TurnMessage[], TurnMessage][] = [
    ["asking", conversation(started(1)), [{ type: "proceed" }], {
      type: "model_failed",
      failure: { type: "failed", error: { type: "cancelled", message: "" } },
    }],
    ["asking, the reply already on its way", conversation(started(1)), [{ type: "proceed" }], {
      type: "reply",
      reply: reply("tool_use", [toolUse("a")]),
    }],
    ["running calls", conversation(started(1)), [{ type: "proceed" }, {
      type: "reply",
      reply: reply("tool_use", [toolUse("a")]),
    }], { type: "calls_settled" }],
    ["compacting", longConversation(), [{ type: "proceed" }, {
      type: "model_failed",
      failure: {
        type: "too_long",
        error: { type: "invalid_request_error", message: "prompt is too long" },
      },
    }], { type: "reply", reply: reply("end_turn", [text("summary")]) }],
    ["between steps", conversation(started(1)), [], { type: "proceed" }],
  ];
  for (const [phase, state, before, after] of cases) {
    const running = run(state, newTurn(1024), ...before);
    const cancelled = run(state, running.turn, { type: "cancel" });
    assertEquals(effectTypes(cancelled), ["abort"], phase);
    const end = run(state, cancelled.turn, after);
    assertEquals(errorType(end), "cancelled", phase);
    assertEquals(end.records.map((record) => record.type), ["turn_ended"], phase);
  }
});

Deno.test("stepTurn: a lost lease halts the turn without a record; another process finishes it", () => {
  const state = conversation(started(1));
  const running = run(state, newTurn(1024), { type: "proceed" });
  const error = new Error("lease lost");
  const step = run(state, running.turn, { type: "journal_lost", error });
  assertEquals(step.records, []);
  assertEquals(step.effects, [{ type: "abort" }, { type: "halt", error }]);
  assertEquals(run(state, step.turn, { type: "reply", reply: reply("end_turn", []) }).effects, []);
});

Deno.test("stepTurn: recovery settles the calls a crash cut short, re-running idempotent ones once", () => {
  const state = conversation(
    started(1),
    {
      type: "assistant",
      content: [toolUse("w"), toolUse("l", "lookup"), toolUse("q")] as Anthropic.ContentBlock[],
      stopReason: "tool_use",
    },
    { type: "call", callId: "w", state: "running" },
    { type: "call", callId: "l", state: "running" },
  );
  const step = run(state, newTurn(1024), { type: "resume" });
  assertEquals(step.records, [
    { type: "turn_resumed", interrupted: ["w"], rerun: ["l"], at: NOW },
    {
      type: "call",
      callId: "w",
      state: "interrupted",
      reported: { content: INTERRUPTED_CALL, isError: true },
    },
    { type: "call", callId: "l", state: "queued" },
  ]);
  assertEquals(step.effects, [{ type: "proceed", durable: true }]);
  // The calls that never started (q) and the one to re-run (l) run next.
  assertEquals(effectTypes(run(state, step.turn, { type: "proceed" })), ["run_calls"]);
});

Deno.test("stepTurn: a prompt too long compacts the history, then asks again", () => {
  const state = longConversation();
  let step = run(state, newTurn(1024), { type: "proceed" }, {
    type: "model_failed",
    failure: {
      type: "too_long",
      error: { type: "invalid_request_error", message: "prompt is too long" },
    },
  });
  assertEquals(step.effects, [{ type: "summarize", keepFrom: 4 }]);
  step = run(state, step.turn, { type: "reply", reply: reply("end_turn", [text("The gist.")]) });
  const compacted = ofType(step.records[0], "compacted");
  assertEquals([compacted.summary, compacted.keepFrom, compacted.at], ["The gist.", 4, NOW]);
  assertEquals(step.effects, [{ type: "proceed", durable: true }]);
  step = run(state, step.turn, { type: "proceed" });
  assertEquals(step.effects, [{ type: "ask_model", step: 1, maxTokens: 1024 }]);
});

Deno.test("stepTurn: a history too long to summarize at once is summarized in parts; past that the turn fails", () => {
  const state = longConversation();
  const tooLong = {
    type: "model_failed",
    failure: {
      type: "too_long",
      error: { type: "invalid_request_error", message: "prompt is too long" },
    },
  } as const;
  let step = run(state, newTurn(1024), { type: "proceed" }, tooLong, tooLong);
  assertEquals(step.effects, [{ type: "summarize", keepFrom: 2 }]);
  step = run(state, step.turn, tooLong);
  assertEquals(errorType(step), "invalid_request_error");
});

Deno.test("stepTurn: a reply near the window compacts before the next call; with compaction off, it does not", () => {
  const answer = assistant(reply("end_turn", [text("ok")], 900));
  const records = [started(1), answer, ENDED, started(2)];
  assertEquals(effectTypes(run(conversation(...records), newTurn(1024), { type: "proceed" })), [
    "summarize",
  ]);
  const off = { ...SETTINGS, compaction: { ...DEFAULT_COMPACTION, enabled: false } };
  assertEquals(
    stepTurn(conversation(...records), newTurn(1024), { type: "proceed" }, off).effects[0].type,
    "ask_model",
  );
});

Deno.test("stepTurn: an empty summary fails the turn; the history stays as it was", () => {
  const state = longConversation();
  const step = run(state, newTurn(1024), { type: "proceed" }, {
    type: "model_failed",
    failure: {
      type: "too_long",
      error: { type: "invalid_request_error", message: "prompt is too long" },
    },
  }, { type: "reply", reply: reply("end_turn", []) });
  assertEquals(errorType(step), "compaction_failed");
  assertEquals(state.compaction, undefined);
});

Deno.test("stepTurn: a bug in an effect fails the turn, not the process", () => {
  const step = run(conversation(started(1)), newTurn(1024), { type: "proceed" }, {
    type: "crashed",
    message: "boom",
  });
  assertEquals(finished(step)?.outcome, { type: "internal_error", message: "boom" });
});

Deno.test("stepTurn: is pure: the conversation and turn it is given do not change", () => {
  const state = conversation(started(1));
  const before = structuredClone(state);
  const turn = newTurn(1024);
  const messages: TurnMessage[] = [
    { type: "proceed" },
    { type: "resume" },
    { type: "reply", reply: reply("end_turn", [text("Done.")]) },
    { type: "cancel" },
  ];
  for (const message of messages) stepTurn(state, turn, message, SETTINGS);
  assertEquals(state, before);
  assertEquals(turn, newTurn(1024));
});
