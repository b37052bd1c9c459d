/**
 * The journal of a conversation is a list of records; its state, and the
 * history sent to the model, are rebuilt from them and from nothing else.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { TurnError } from "../turn_error.ts";
import { addUsage, NO_USAGE, type TokenUsage } from "../token_usage.ts";
import type { Withheld } from "../model/reply.ts";
import type { Effort, Thinking } from "../model/thinking.ts";
import type { UserBlock } from "../user_content.ts";
import type { ToolResultBlock } from "../tool_result_blocks.ts";

/** The life of a tool call. The last five are final. */
export type CallState =
  | "awaiting_approval"
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "timed_out"
  | "cancelled"
  | "interrupted";

/** What started a turn: a person's message, or a background task's result. */
export type TurnCause =
  | {
    type: "user_message";
    messageId: string;
    /** The message as one line (its attachments named); what the model reads when `content` is absent. */
    text: string;
    /** The message as content blocks, with its images and documents. */
    content?: UserBlock[];
  }
  | {
    type: "task_result";
    taskId: string;
    callId: string;
    name: string;
    state: CallState;
    content: string;
  };

/** One record of a conversation's journal. */
export type JournalRecord =
  | {
    type: "created";
    modelName: string;
    system?: string;
    tools?: string[];
    /** `max_tokens` its model calls start with; the system's when absent. */
    maxTokens?: number;
    /** What its creator attached to it for its tools (`ctx.metadata`); never sent to the model. */
    metadata?: Record<string, unknown>;
    /** Its extended thinking; the system's when absent. */
    thinking?: Thinking;
    /** Its effort; the system's when absent. */
    effort?: Effort;
    at: number;
  }
  | { type: "turn_started"; turn: number; cause: TurnCause; at: number }
  /** A process took up a turn that another one left open: its running calls, settled. */
  | { type: "turn_resumed"; interrupted: string[]; rerun: string[]; at: number }
  | {
    type: "assistant";
    content: Anthropic.ContentBlock[];
    stopReason: string | null;
    /** Absent in journals written before usage was recorded. */
    usage?: TokenUsage;
    /**
     * Kept for audit but never sent to the model again, and none of its
     * calls run: a reply cut inside a tool call, a refusal, a malformed reply.
     */
    withheld?: Withheld;
    /** When it arrived (epoch ms); absent in records written before it was kept. */
    at?: number;
  }
  /** `at`: when the change happened (epoch ms); absent in records written before it was kept. */
  | ({ type: "call"; at?: number } & CallUpdate)
  /**
   * The history before the transcript's `keepFrom`th record is summarized:
   * the model is sent `summary` instead of it from now on. The records stay.
   */
  | {
    type: "compacted";
    summary: string;
    /** Claude's own `compaction` block, as it came: sent back in place of the history it summarizes. */
    block?: CompactionBlock;
    keepFrom: number;
    /** The summarizing call's tokens. */
    usage: TokenUsage;
    at: number;
  }
  | {
    type: "turn_ended";
    status: "completed" | "failed";
    stopReason?: string;
    text?: string;
    error?: TurnError;
    /** When the turn ended (epoch ms); absent in records written before it was kept. */
    at?: number;
  };

/** Claude's own summary of a history, to be sent back exactly as it came. */
export type CompactionBlock = Anthropic.Beta.Messages.BetaCompactionBlock;

/** A model response, as journaled. */
export type AssistantRecord = Extract<JournalRecord, { type: "assistant" }>;

/** A change to a call: its new state, and what the model was told, once it was. */
export interface CallUpdate {
  callId: string;
  state: CallState;
  /**
   * Set once: the `tool_result` the model gets: `blocks` (images and
   * documents) when the tool returned them, `content` then describing them.
   */
  reported?: { content: string; isError: boolean; blocks?: ToolResultBlock[] };
  /** Set when the call continues as a background task. */
  taskId?: string;
  /** How often a worker was started for it. */
  attempts?: number;
  ms?: number;
  /** While `awaiting_approval`: when no decision means it is denied (epoch ms); none waits. */
  expiresAt?: number;
  /** A person's (or the expiry's) decision on a call of a tool that `needsApproval`. */
  decision?: ApprovalDecision;
}

/** Whether a call of a tool that `needsApproval` may run, and why not. */
export interface ApprovalDecision {
  approved: boolean;
  reason?: string;
}

/** A tool call as the journal knows it. */
export interface CallRecord extends CallUpdate {
  name: string;
  input: unknown;
  attempts: number;
  /** When it entered its state (epoch ms), for records that have a time. */
  since?: number;
}

/** A conversation, as rebuilt from its journal. */
export interface ConversationState {
  id: string;
  createdAt: number;
  modelName: string;
  system?: string;
  /** The tools it may call; all of the catalog's when absent. */
  tools?: string[];
  /** `max_tokens` its model calls start with; the system's when absent. */
  maxTokens?: number;
  /** What its creator attached to it for its tools; never sent to the model. */
  metadata?: Record<string, unknown>;
  /** Its extended thinking and effort; the system's when absent. */
  thinking?: Thinking;
  effort?: Effort;
  /** Turns started so far. */
  turns: number;
  /** The turn that has started and not ended, with its model calls so far and their tokens. */
  openTurn?: { turn: number; cause: TurnCause; steps: number; usage: TokenUsage };
  /** Tokens of every model call so far. */
  usage: TokenUsage;
  /** The records the history is made of, in order. */
  transcript: (
    | Extract<JournalRecord, { type: "turn_started" }>
    | AssistantRecord
  )[];
  calls: Map<string, CallRecord>;
  /** The latest compaction: what the model is sent instead of the transcript before `keepFrom`. */
  compaction?: { summary: string; keepFrom: number; block?: CompactionBlock };
}

/**
 * Applies one record to a state (in place) and returns it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { applyRecord, type ConversationState } from "./records.ts";
 * const state = applyRecord(
 *   { id: "c1" } as ConversationState,
 *   { type: "created", modelName: "claude-sonnet-5-5", tools: [], at: 0 },
 * );
 * assertEquals(state.turns, 0);
 * ```
 */
export function applyRecord(state: ConversationState, record: JournalRecord): ConversationState {
  switch (record.type) {
    case "created":
      Object.assign(state, {
        createdAt: record.at,
        modelName: record.modelName,
        system: record.system,
        maxTokens: record.maxTokens,
        metadata: record.metadata,
        thinking: record.thinking,
        effort: record.effort,
        tools: record.tools,
        turns: 0,
        usage: NO_USAGE,
        transcript: [],
        calls: new Map(),
      });
      break;
    case "turn_started":
      state.turns = record.turn;
      state.openTurn = { turn: record.turn, cause: record.cause, steps: 0, usage: NO_USAGE };
      state.transcript.push(record);
      break;
    case "assistant":
      state.usage = addUsage(state.usage, record.usage);
      if (state.openTurn) {
        state.openTurn.steps++;
        state.openTurn.usage = addUsage(state.openTurn.usage, record.usage);
      }
      if (record.withheld) break; // neither history nor calls: it is only kept
      state.transcript.push(record);
      for (const block of record.content) {
        if (block.type !== "tool_use") continue;
        state.calls.set(block.id, {
          callId: block.id,
          name: block.name,
          input: block.input,
          state: "queued",
          attempts: 0,
        });
      }
      break;
    case "call": {
      const { type: _, at, ...update } = record;
      const call = state.calls.get(record.callId);
      if (!call) break;
      if (update.state !== call.state) call.since = at;
      Object.assign(call, update, { reported: call.reported ?? update.reported });
      break;
    }
    case "turn_ended":
      state.openTurn = undefined;
      break;
    case "turn_resumed": // the calls it settled follow as `call` records
      break;
    case "compacted":
      state.usage = addUsage(state.usage, record.usage);
      state.compaction = {
        summary: record.summary,
        keepFrom: record.keepFrom,
        block: record.block,
      };
      break;
  }
  return state;
}

/**
 * The history in Messages API format, as the model is sent it: after a
 * compaction, its summary and what followed. Results of calls not yet
 * reported are left out, so the model is only called once every call of a
 * step is.
 *
 * @example
 * ```ts ignore
 * const messages = historyOf(state);
 * ```
 */
export function historyOf(state: ConversationState): Anthropic.MessageParam[] {
  const from = state.compaction?.keepFrom ?? 0;
  // Turns before the newest are settled (their calls' results are final): their
  // messages are built once per state and compaction, and only the newest turn's each time.
  const newest = state.transcript.findLastIndex((record) => record.type === "turn_started");
  const upTo = Math.max(from, newest);
  let settled = settledHistories.get(state);
  if (settled?.from !== from) settled = { from, upTo: from, messages: summaryOf(state) };
  if (settled.upTo < upTo) {
    const messages = [...settled.messages];
    appendHistory(state, state.transcript.slice(settled.upTo, upTo), messages);
    settled = { from, upTo, messages };
  }
  settledHistories.set(state, settled);
  const history = [...settled.messages];
  appendHistory(state, state.transcript.slice(upTo), history);
  return history;
}

/**
 * The whole history, compactions left out: what a person reads back
 * (`GET /v1/conversations/:id`), never sent to the model whole once compacted.
 */
export function fullHistoryOf(state: ConversationState): Anthropic.MessageParam[] {
  const history: Anthropic.MessageParam[] = [];
  appendHistory(state, state.transcript, history);
  return history;
}

/** The message a compaction's summary becomes, first in the history. */
function summaryOf(state: ConversationState): Anthropic.MessageParam[] {
  if (!state.compaction) return [];
  const { block } = state.compaction;
  // Claude's own block goes first, as the assistant's, exactly as it came.
  if (block) {
    return [{ role: "assistant", content: [block as unknown as Anthropic.ContentBlockParam] }];
  }
  const text = `${SUMMARY_HEADING}\n${state.compaction.summary}`;
  return [{ role: "user", content: [{ type: "text", text }] }];
}

/** What the model reads above a compaction's summary. */
export const SUMMARY_HEADING =
  "[The earlier part of this conversation was summarized to fit the context window. The summary:]";

/** Each state's messages from its compaction up to its newest turn; a state's transcript only grows. */
const settledHistories = new WeakMap<
  ConversationState,
  { from: number; upTo: number; messages: Anthropic.MessageParam[] }
>();

/** Appends the messages of `records` to `history`, never changing a message already in it. */
function appendHistory(
  state: ConversationState,
  records: ConversationState["transcript"],
  history: Anthropic.MessageParam[],
): void {
  // Consecutive user content goes into one message, so a turn that failed
  // after the user spoke still leaves a history the API accepts.
  const addUserContent = (content: Anthropic.ContentBlockParam[]) => {
    const last = history.at(-1);
    if (last?.role === "user") {
      history[history.length - 1] = { role: "user", content: [...last.content as [], ...content] };
    } else if (content.length > 0) history.push({ role: "user", content });
  };
  for (const record of records) {
    if (record.type === "turn_started") {
      const { cause } = record;
      const blocks = cause.type === "user_message" ? cause.content : undefined;
      addUserContent(blocks ?? [{ type: "text", text: turnText(cause) }]);
      continue;
    }
    if (record.content.length === 0) continue;
    history.push({ role: "assistant", content: record.content });
    addUserContent(record.content.flatMap((block) => {
      const reported = block.type === "tool_use" && state.calls.get(block.id)?.reported;
      if (!reported) return [];
      return [{
        type: "tool_result" as const,
        tool_use_id: (block as Anthropic.ToolUseBlock).id,
        content: reported.blocks ?? reported.content,
        ...(reported.isError ? { is_error: true } : {}),
      }];
    }));
  }
}

/** The calls of the open turn's last model response that the model has not heard back on. */
export function unreportedCalls(state: ConversationState): CallRecord[] {
  const last = state.transcript.at(-1);
  if (!state.openTurn || last?.type !== "assistant") return [];
  return last.content.flatMap((block) => {
    const call = block.type === "tool_use" ? state.calls.get(block.id) : undefined;
    return call && !call.reported ? [call] : [];
  });
}

/** The text the model reads for what started a turn. */
export function turnText(cause: TurnCause): string {
  if (cause.type === "user_message") return cause.text;
  const outcome = cause.state === "succeeded" ? "finished" : `ended as ${cause.state}`;
  return `[Background task ${cause.taskId} (your ${cause.name} call ${cause.callId}) ${outcome}. Its result:]\n${cause.content}`;
}
