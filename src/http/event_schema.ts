/**
 * The conversation's events as a zod schema, for `GET /openapi.json`: so
 * that a client generated from the spec types each event (`event.type`
 * narrows it) instead of seeing a string. A type-level check below keeps
 * the schema and `ConversationEvent` the same, field for field.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";
import type { ConversationEvent } from "../events.ts";
import type { CallState } from "../journal/records.ts";
import type { TaskReason } from "../journal/tasks.ts";

const CALL_STATES = [
  "awaiting_approval",
  "queued",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
  "interrupted",
] as const satisfies readonly CallState[];
const TASK_REASONS = [
  "background",
  "turn_limit",
  "handed_off",
  "late",
  "taken_over",
] as const satisfies readonly TaskReason[];

const callState = z.enum(CALL_STATES);
const usage = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  serverToolUses: z.number().optional(),
});
const call = { callId: z.string(), name: z.string() };

/** Each event's own fields, by its type. */
const EVENT_FIELDS = {
  turn_started: {
    turn: z.number(),
    messageId: z.string(),
    text: z.string(),
    taskId: z.string().optional(),
  },
  turn_resumed: { turn: z.number(), interrupted: z.array(z.string()), rerun: z.array(z.string()) },
  model_call_started: { step: z.number() },
  text_delta: { text: z.string() },
  server_tool_used: { ...call, input: z.unknown(), failed: z.boolean() },
  thinking_delta: { text: z.string() },
  model_call_retrying: { step: z.number(), attempt: z.number(), reason: z.string() },
  context_compacted: { keepFrom: z.number(), summary: z.string() },
  model_call_finished: { step: z.number(), stopReason: z.string(), usage },
  tool_call_queued: {
    ...call,
    input: z.unknown(),
    waitingFor: z.enum(["worker", "tool_limit"]),
    priority: z.enum(["normal", "low"]),
  },
  tool_call_retrying: {
    ...call,
    attempt: z.number(),
    attempts: z.number(),
    previous: z.string(),
  },
  tool_call_awaiting_approval: { ...call, input: z.unknown(), expiresAt: z.number().optional() },
  tool_call_approved: call,
  tool_call_denied: { ...call, reason: z.string().optional() },
  tool_call_started: { ...call, input: z.unknown() },
  tool_call_progress: { ...call, text: z.string() },
  tool_call_finished: {
    ...call,
    content: z.string(),
    status: callState,
    ms: z.number(),
    taskId: z.string().optional(),
    attempts: z.number().optional(),
  },
  tool_batch_finished: { count: z.number(), wallMs: z.number(), summedMs: z.number() },
  task_started: { taskId: z.string(), ...call, reason: z.enum(TASK_REASONS) },
  task_finished: { taskId: z.string(), ...call, status: callState, content: z.string() },
  turn_finished: { stopReason: z.string(), text: z.string(), steps: z.number(), usage },
  turn_failed: {
    error: z.object({ type: z.string(), message: z.string(), details: z.unknown().optional() }),
    steps: z.number(),
    usage,
  },
} as const;

type EventType = keyof typeof EVENT_FIELDS;

function _event<T extends EventType>(type: T) {
  return z.object({
    conversationId: z.string(),
    id: z.number().openapi({ description: "Increases over the conversation's whole life." }),
    at: z.number().openapi({ description: "When it happened, in epoch milliseconds." }),
    type: z.literal(type),
    ...EVENT_FIELDS[type],
  }).openapi(`Event_${type}`);
}

const TYPES = Object.keys(EVENT_FIELDS) as EventType[];

/** One event of a conversation, discriminated by `type`. */
export const ConversationEventSchema = z.discriminatedUnion(
  "type",
  TYPES.map(_event) as unknown as [
    ReturnType<typeof _event<EventType>>,
    ...ReturnType<typeof _event<EventType>>[],
  ],
).openapi("ConversationEvent", {
  description:
    "The `data` of each server-sent event, as JSON; the SSE `id` is its `id`, the SSE `event` its `type`.",
});

// The schema and the type are the same set of events: each is assignable to the other.
type Described = { [T in EventType]: z.infer<ReturnType<typeof _event<T>>> }[EventType];
type _Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameEvents: _Same<Described, ConversationEvent> = true;
void _sameEvents;
