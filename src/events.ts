/**
 * What a conversation reports while it works: the CLI renders these, and
 * HTTP clients receive them as a stream.
 *
 * @module
 */

import type { CallState } from "./journal/records.ts";
import type { CallPriority } from "./tool.ts";
import type { TaskReason } from "./journal/tasks.ts";
import type { TokenUsage } from "./token_usage.ts";
import type { TurnError } from "./turn_error.ts";

/**
 * One tool call as the model heard of it: ended, or `running` as the
 * background task `taskId`.
 */
export interface ToolCallSummary {
  callId: string;
  name: string;
  status: CallState;
  ms: number;
  taskId?: string;
  /** Attempts made, where an idempotent tool was retried. */
  attempts?: number;
}

export type { TurnError };

/**
 * Every event of a conversation, discriminated by `type`. `id` increases
 * over the conversation's whole life, across restarts (see
 * `EVENT_ID_STRIDE`); `at` is epoch milliseconds.
 */
export type ConversationEvent =
  & { conversationId: string; id: number; at: number }
  & (
    | {
      type: "turn_started";
      turn: number;
      /** The user message's id, or `task:<taskId>` for a task result. */
      messageId: string;
      text: string;
      taskId?: string;
    }
    /** A turn that a crash interrupted goes on in a new process. */
    | { type: "turn_resumed"; turn: number; interrupted: string[]; rerun: string[] }
    | { type: "model_call_started"; step: number }
    | { type: "text_delta"; text: string }
    /** A server tool (web search, web fetch, code execution) the model used: it ran at Anthropic. */
    | { type: "server_tool_used"; callId: string; name: string; input: unknown; failed: boolean }
    /** The model's thinking as it is generated (one per reply when not streamed). */
    | { type: "thinking_delta"; text: string }
    /**
     * The model's reply was cut short (its stream stalled, or the connection
     * dropped) and is asked for again: its text streams again from the start.
     */
    | { type: "model_call_retrying"; step: number; attempt: number; reason: string }
    /**
     * The history grew too long for the context window: what came before
     * the `keepFrom`th entry of the transcript (turn starts and model
     * replies) is sent to the model as this summary from now on; the
     * journal keeps it all.
     */
    | { type: "context_compacted"; keepFrom: number; summary: string }
    /** The model answered: `stopReason` `tool_use` means its calls come next. */
    | { type: "model_call_finished"; step: number; stopReason: string; usage: TokenUsage }
    /**
     * The call waits its turn (it starts with `tool_call_started`): for a
     * worker (every slot is taken) or for its tool's `maxConcurrent`/`perSecond`.
     */
    | {
      type: "tool_call_queued";
      callId: string;
      name: string;
      input: unknown;
      waitingFor: "worker" | "tool_limit";
      /** A `low` call waits for a worker behind `normal` ones. */
      priority: CallPriority;
    }
    /** An idempotent tool's call failed or timed out, and is run again after a backoff. */
    | {
      type: "tool_call_retrying";
      callId: string;
      name: string;
      /** The attempt starting now, from 2. */
      attempt: number;
      attempts: number;
      /** What the previous attempt ended with. */
      previous: string;
    }
    /**
     * The call's tool `needsApproval`: it does not start (nor hold a worker)
     * until it is approved; it is denied when no one decides by `expiresAt`.
     */
    | {
      type: "tool_call_awaiting_approval";
      callId: string;
      name: string;
      input: unknown;
      expiresAt?: number;
    }
    | { type: "tool_call_approved"; callId: string; name: string }
    | { type: "tool_call_denied"; callId: string; name: string; reason?: string }
    | { type: "tool_call_started"; callId: string; name: string; input: unknown }
    | { type: "tool_call_progress"; callId: string; name: string; text: string }
    | ({ type: "tool_call_finished"; content: string } & ToolCallSummary)
    | { type: "tool_batch_finished"; count: number; wallMs: number; summedMs: number }
    | { type: "task_started"; taskId: string; callId: string; name: string; reason: TaskReason }
    | {
      type: "task_finished";
      taskId: string;
      callId: string;
      name: string;
      status: CallState;
      content: string;
    }
    /** `usage` sums the turn's model calls. */
    | {
      type: "turn_finished";
      stopReason: string;
      text: string;
      steps: number;
      usage: TokenUsage;
    }
    | { type: "turn_failed"; error: TurnError; steps: number; usage: TokenUsage }
  );

/** An event without the fields the supervisor stamps on it. */
export type ConversationEventInit = ConversationEvent extends infer E
  ? E extends ConversationEvent ? Omit<E, "conversationId" | "id" | "at"> : never
  : never;
