/**
 * What a conversation reports while it works: the CLI renders these, and
 * HTTP clients receive them as a stream.
 *
 * @module
 */

/** How one tool call ended. */
export type ToolCallStatus = "ok" | "error" | "timeout" | "cancelled";

/** One finished tool call, as turn results and events summarise it. */
export interface ToolCallSummary {
  callId: string;
  name: string;
  status: ToolCallStatus;
  ms: number;
}

/** Why a turn failed; `type` is the API's error type where the model failed. */
export interface TurnError {
  type: string;
  message: string;
}

/**
 * Every event of a conversation, discriminated by `type`. `id` counts up
 * from 1 within the conversation; `at` is epoch milliseconds.
 */
export type ConversationEvent =
  & { conversationId: string; id: number; at: number }
  & (
    | { type: "turn_started"; turn: number; messageId: string; text: string }
    | { type: "model_call_started"; step: number }
    | { type: "text_delta"; text: string }
    | { type: "tool_call_started"; callId: string; name: string; input: unknown }
    | { type: "tool_call_progress"; callId: string; name: string; text: string }
    | ({ type: "tool_call_finished"; content: string } & ToolCallSummary)
    | { type: "tool_batch_finished"; count: number; wallMs: number; summedMs: number }
    | { type: "turn_finished"; stopReason: string; text: string; steps: number }
    | { type: "turn_failed"; error: TurnError; steps: number }
  );

/** An event without the fields the supervisor stamps on it. */
export type ConversationEventInit = ConversationEvent extends infer E
  ? E extends ConversationEvent ? Omit<E, "conversationId" | "id" | "at"> : never
  : never;
