/**
 * A turn as a pure state machine: {@linkcode stepTurn} takes the
 * conversation as its journal makes it, the turn's own state and one
 * message, and says what to journal and what to do next. It performs
 * nothing: the supervisor's interpreter runs the effects and posts what
 * they return back as messages. Recovery is the same machine, started with
 * `resume` on a turn a crash left open.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { ToolCallSummary, TurnError } from "../../src/events.ts";
import { judgeReply, MAX_OUTPUT_TOKENS, MAX_PAUSES } from "../../src/model/reply.ts";
import {
  canCompact,
  compactionPoint,
  type CompactionSettings,
  halfwayPoint,
  shouldCompact,
  summaryOfReply,
} from "../../src/model/compaction.ts";
import {
  type AssistantRecord,
  type CallUpdate,
  type ConversationState,
  type JournalRecord,
  unreportedCalls,
} from "../../src/journal/records.ts";
import { addUsage, NO_USAGE, type TokenUsage, usageOf } from "../../src/token_usage.ts";

/** What the model is told about a call a restart cut short. */
export const INTERRUPTED_CALL =
  "Interrupted by a restart: the runtime stopped while this call was running, so it may or may not have taken effect.";

/** What a turn keeps from one model call to the next, whatever it is doing. */
export interface TurnProgress {
  /** `max_tokens` of the next model call: doubled after a reply cut inside a tool call. */
  room: number;
  /** `pause_turn` replies continued so far. */
  pauses: number;
  /** The API said the prompt is too long: compact all that can be before asking again. */
  mustCompact: boolean;
  /** Cancelled: whatever runs now is stopped, and then the turn ends. */
  cancelling: boolean;
}

/** What a turn is doing: waiting on exactly one effect, or ended. */
export type Turn =
  /** Its records are being applied (and journaled, when they must be) before it decides. */
  | { phase: "proceeding" } & TurnProgress
  | { phase: "running_calls" } & TurnProgress
  | { phase: "asking"; step: number } & TurnProgress
  /** Summarizing the history before the transcript's `keepFrom`th record. */
  | { phase: "compacting"; keepFrom: number } & TurnProgress
  | { phase: "ended" };

/** Why a model call gave no reply. */
export type ModelFailure =
  /** The request outgrew the context window or the API's size limit. */
  | { type: "too_long"; error: TurnError }
  | { type: "failed"; error: TurnError };

/** Everything a turn hears, one at a time, from its mailbox. */
export type TurnMessage =
  /** Its start is journaled, or its records so far are applied: decide what comes next. */
  | { type: "proceed" }
  /** A process takes up a turn another one left open. */
  | { type: "resume" }
  /** Every call of the batch has a result the model will hear (or was stopped). */
  | { type: "calls_settled" }
  /** The model's reply to an `ask_model` or `summarize`. */
  | { type: "reply"; reply: Anthropic.Message }
  | { type: "model_failed"; failure: ModelFailure }
  | { type: "cancel" }
  /** The journal no longer takes this process's writes: another process goes on. */
  | { type: "journal_lost"; error: Error }
  /** An effect failed unexpectedly (a bug): the turn fails, never the process. */
  | { type: "crashed"; message: string };

/** How a turn ends: a final answer, or an error. */
export type TurnOutcome = { stopReason: string; text: string } | TurnError;

/** How a turn ended, for whoever waits for it. The history is valid either way. */
export type TurnResult =
  & { steps: number; toolCalls: ToolCallSummary[]; usage: TokenUsage }
  & (
    | { status: "completed"; stopReason: string; text: string }
    | { status: "failed"; error: TurnError }
  );

/** What the interpreter does for a turn. */
export type TurnEffect =
  /** Post `proceed` once the records so far are applied; `durable`: once journaled. */
  | { type: "proceed"; durable: boolean }
  /** Run the conversation's unreported calls; post `calls_settled`. */
  | { type: "run_calls" }
  /** Ask the model for the `step`th reply of the turn; post `reply` or `model_failed`. */
  | { type: "ask_model"; step: number; maxTokens: number }
  /** Ask the model to summarize the history before `keepFrom`; post `reply` or `model_failed`. */
  | { type: "summarize"; keepFrom: number }
  /** Stop the effect under way (a model call, the calls). */
  | { type: "abort" }
  /** Journal the records with the end of the turn, and answer whoever waits for it. */
  | { type: "finish"; outcome: TurnOutcome; steps: number; usage: TokenUsage }
  /** Stop here, journaling nothing: the error reaches whoever waits for the turn. */
  | { type: "halt"; error: Error };

/** What one message does: the turn's next state, records to apply in order, effects to run. */
export interface TurnStep {
  turn: Turn;
  records: JournalRecord[];
  effects: TurnEffect[];
}

/** What a turn's decisions depend on beside the conversation. */
export interface TurnSettings {
  maxSteps: number;
  compaction: CompactionSettings;
  /** Whether calls of the tool `name` may run again after a crash cut them short. */
  isIdempotent: (name: string) => boolean;
  /** Now, in epoch ms, for the records' `at`: the clock is the caller's. */
  now: number;
}

/**
 * A turn about to start (or resume), with `room` as its first `max_tokens`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { newTurn } from "./turn.ts";
 * assertEquals(newTurn(8192).phase, "proceeding");
 * ```
 */
export function newTurn(room: number): Turn {
  return { phase: "proceeding", room, pauses: 0, mustCompact: false, cancelling: false };
}

/**
 * The turn's response to one message: synchronous and pure; the
 * conversation and turn given are not changed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { newTurn, stepTurn } from "./turn.ts";
 * import { DEFAULT_COMPACTION } from "../../src/model/compaction.ts";
 * import type { ConversationState } from "../../src/journal/records.ts";
 * const conversation = {
 *   id: "c1", modelName: "claude-x", turns: 1, transcript: [], calls: new Map(),
 *   openTurn: { turn: 1, cause: { type: "user_message", messageId: "m1", text: "Hi" }, steps: 0 },
 * } as unknown as ConversationState;
 * const settings = { maxSteps: 10, compaction: DEFAULT_COMPACTION, isIdempotent: () => false, now: 0 };
 * const { effects } = stepTurn(conversation, newTurn(1024), { type: "proceed" }, settings);
 * assertEquals(effects, [{ type: "ask_model", step: 1, maxTokens: 1024 }]);
 * ```
 */
export function stepTurn(
  conversation: ConversationState,
  turn: Turn,
  message: TurnMessage,
  settings: TurnSettings,
): TurnStep {
  if (turn.phase === "ended") return stay(turn);
  switch (message.type) {
    case "cancel":
      return turn.cancelling
        ? stay(turn)
        : { ...stay({ ...turn, cancelling: true }), effects: [ABORT] };
    case "journal_lost":
      return {
        turn: { phase: "ended" },
        records: [],
        effects: [ABORT, { type: "halt", error: message.error }],
      };
    case "crashed":
      return finish(conversation, { type: "internal_error", message: message.message });
    case "resume":
      return resume(conversation, turn, settings);
    case "proceed":
    case "calls_settled":
      return decide(conversation, turn, settings);
    case "reply":
      if (turn.cancelling) return finish(conversation, CANCELLED);
      if (turn.phase === "compacting") {
        return takeSummary(conversation, turn, message.reply, settings);
      }
      return takeReply(conversation, turn, message.reply, settings);
    case "model_failed":
      if (turn.cancelling) return finish(conversation, CANCELLED);
      if (turn.phase === "compacting") return summaryFailed(conversation, turn, message.failure);
      return modelFailed(conversation, turn, message.failure, settings);
  }
}

const ABORT: TurnEffect = { type: "abort" };

const CANCELLED: TurnError = { type: "cancelled", message: "The turn was cancelled." };

/** What the turn does next, from the conversation as it stands. */
function decide(
  conversation: ConversationState,
  turn: TurnProgress,
  settings: TurnSettings,
): TurnStep {
  if (turn.cancelling) return finish(conversation, CANCELLED);
  if (unreportedCalls(conversation).length > 0) {
    return {
      turn: { ...progressOf(turn), phase: "running_calls" },
      records: [],
      effects: [{ type: "run_calls" }],
    };
  }
  const steps = conversation.openTurn?.steps ?? 0;
  if (steps >= settings.maxSteps) {
    return finish(conversation, {
      type: "max_steps",
      message:
        `Stopped after ${settings.maxSteps} model calls without a final answer (raise --max-steps to allow more).`,
    });
  }
  const keepFrom = compactionPoint(conversation);
  const compact = turn.mustCompact
    ? canCompact(conversation, settings.compaction)
    : shouldCompact(conversation, settings.compaction);
  if (compact && keepFrom !== undefined) {
    return {
      turn: { ...progressOf(turn), phase: "compacting", keepFrom },
      records: [],
      effects: [{ type: "summarize", keepFrom }],
    };
  }
  return {
    turn: { ...progressOf(turn), mustCompact: false, phase: "asking", step: steps + 1 },
    records: [],
    effects: [{ type: "ask_model", step: steps + 1, maxTokens: turn.room }],
  };
}

/** Acts on a reply as {@linkcode judgeReply} says; every reply is journaled, a withheld one marked so. */
function takeReply(
  conversation: ConversationState,
  turn: TurnProgress,
  reply: Anthropic.Message,
  settings: TurnSettings,
): TurnStep {
  const verdict = judgeReply(reply);
  const withheld = "withheld" in verdict ? verdict.withheld : undefined;
  const record: AssistantRecord = {
    type: "assistant",
    content: reply.content,
    stopReason: reply.stop_reason,
    usage: usageOf(reply.usage),
    ...(withheld ? { withheld } : {}),
  };
  const goOn = (next: TurnProgress): TurnStep => ({
    turn: { ...next, phase: "proceeding" },
    records: [record],
    effects: [{ type: "proceed", durable: false }],
  });
  switch (verdict.type) {
    case "run_tools": // the calls' first write carries the reply: one commit starts them
      return {
        turn: { ...progressOf(turn), phase: "running_calls" },
        records: [record],
        effects: [{ type: "run_calls" }],
      };
    case "answer": // a final answer and the end of its turn are one write
      return finish(conversation, { stopReason: verdict.stopReason, text: verdict.text }, record);
    case "continue":
      if (turn.pauses + 1 > MAX_PAUSES) return finish(conversation, pauseLimit(), record);
      return goOn({ ...progressOf(turn), pauses: turn.pauses + 1 });
    case "retry_with_room":
      if (turn.room >= MAX_OUTPUT_TOKENS) {
        return finish(conversation, cutInToolCall(turn.room), record);
      }
      return goOn({ ...progressOf(turn), room: Math.min(turn.room * 2, MAX_OUTPUT_TOKENS) });
    case "fail":
      if (
        verdict.error.type === "context_window_exceeded" &&
        canCompact(conversation, settings.compaction)
      ) {
        return goOn({ ...progressOf(turn), mustCompact: true });
      }
      return finish(conversation, verdict.error, record);
  }
}

function modelFailed(
  conversation: ConversationState,
  turn: TurnProgress,
  failure: ModelFailure,
  settings: TurnSettings,
): TurnStep {
  if (failure.type === "too_long" && canCompact(conversation, settings.compaction)) {
    return decide(conversation, { ...turn, mustCompact: true }, settings);
  }
  return finish(conversation, failure.error);
}

/** A summary is journaled at once: a restart does not summarize the same history again. */
function takeSummary(
  conversation: ConversationState,
  turn: Extract<Turn, { phase: "compacting" }>,
  reply: Anthropic.Message,
  settings: TurnSettings,
): TurnStep {
  const compacted = summaryOfReply(reply.content);
  if (!compacted) {
    return finish(conversation, {
      type: "compaction_failed",
      message: "The model gave no summary of the history to compact.",
    });
  }
  const { keepFrom } = turn;
  return {
    turn: { ...progressOf(turn), phase: "proceeding" },
    records: [{
      type: "compacted",
      ...compacted,
      keepFrom,
      usage: usageOf(reply.usage),
      at: settings.now,
    }],
    effects: [{ type: "proceed", durable: true }],
  };
}

/** A history too long to summarize at once is summarized in parts, oldest first. */
function summaryFailed(
  conversation: ConversationState,
  turn: Extract<Turn, { phase: "compacting" }>,
  failure: ModelFailure,
): TurnStep {
  const halfway = failure.type === "too_long"
    ? halfwayPoint(conversation, turn.keepFrom)
    : undefined;
  if (halfway === undefined) return finish(conversation, failure.error);
  return {
    turn: { ...turn, keepFrom: halfway },
    records: [],
    effects: [{ type: "summarize", keepFrom: halfway }],
  };
}

/**
 * Settles the calls a crash cut short: idempotent ones run once more, the
 * others are reported interrupted. Journaled even with nothing to settle:
 * events from here on get ids no earlier process used.
 */
function resume(
  conversation: ConversationState,
  turn: TurnProgress,
  settings: TurnSettings,
): TurnStep {
  const interrupted: string[] = [];
  const rerun: string[] = [];
  const updates: CallUpdate[] = [];
  for (const call of unreportedCalls(conversation)) {
    if (call.state !== "running") continue; // never started: it simply runs
    if (settings.isIdempotent(call.name) && call.attempts < 2) {
      rerun.push(call.callId);
      updates.push({ callId: call.callId, state: "queued" });
    } else {
      interrupted.push(call.callId);
      updates.push({
        callId: call.callId,
        state: "interrupted",
        reported: { content: INTERRUPTED_CALL, isError: true },
      });
    }
  }
  return {
    turn: { ...progressOf(turn), phase: "proceeding" },
    records: [
      { type: "turn_resumed", interrupted, rerun, at: settings.now },
      ...updates.map((update): JournalRecord => ({ type: "call", ...update })),
    ],
    effects: [{ type: "proceed", durable: true }],
  };
}

/** The turn ends: with `answer` as its last model reply when there is one. */
function finish(
  conversation: ConversationState,
  outcome: TurnOutcome,
  answer?: AssistantRecord,
): TurnStep {
  const { steps, usage } = conversation.openTurn ?? { steps: 0, usage: NO_USAGE };
  const ended: JournalRecord = "stopReason" in outcome
    ? { type: "turn_ended", status: "completed", ...outcome }
    : { type: "turn_ended", status: "failed", error: outcome };
  return {
    turn: { phase: "ended" },
    records: answer ? [answer, ended] : [ended],
    effects: [{
      type: "finish",
      outcome,
      steps: steps + (answer ? 1 : 0),
      usage: addUsage(usage, answer?.usage),
    }],
  };
}

function stay(turn: Turn): TurnStep {
  return { turn, records: [], effects: [] };
}

function progressOf(turn: TurnProgress): TurnProgress {
  const { room, pauses, mustCompact, cancelling } = turn;
  return { room, pauses, mustCompact, cancelling };
}

function pauseLimit(): TurnError {
  return {
    type: "pause_limit",
    message:
      `The model paused its turn ${MAX_PAUSES} times in a row (pause_turn); send another message to let it go on.`,
  };
}

function cutInToolCall(room: number): TurnError {
  return {
    type: "max_tokens",
    message:
      `The model's reply was cut at ${room} tokens in the middle of a tool call, even with the most room; none of its calls ran. Ask for smaller steps, or raise --max-tokens.`,
  };
}
