/**
 * The shapes of the HTTP API, as zod schemas: the same objects validate the
 * requests and describe the API in `GET /openapi.json`, so the two cannot
 * drift apart.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";
import { MAX_RESULT_BYTES } from "../limit_result.ts";
import { MAX_OUTPUT_TOKENS } from "../model/reply.ts";
import { userBlocksSchema } from "../user_content.ts";
import { type Effort, EFFORTS, MIN_THINKING_BUDGET } from "../model/thinking.ts";

/** Longest message or system prompt accepted, in characters. */
export const MAX_TEXT_CHARS = 200_000;

/** `POST /v1/conversations`. */
export const NewConversation = z.strictObject({
  system: z.string().max(MAX_TEXT_CHARS).optional(),
  model: z.string().min(1).max(200).optional(),
  tools: z.array(z.string().max(64)).max(256).optional().openapi({
    description: "The tools it may call (names from GET /v1/tools); all of them when absent.",
  }),
  metadata: z.record(z.string(), z.unknown()).optional().openapi({
    description:
      "What the conversation's tools are told of who they act for (`ctx.metadata`): a user id, a tenant. Never sent to the model; at most 4096 bytes of JSON.",
  }),
  maxTokens: z.int().min(1).max(MAX_OUTPUT_TOKENS).optional().openapi({
    description:
      "`max_tokens` its model calls start with (the server's --max-tokens when absent); a reply cut inside a tool call is asked again with twice the room.",
  }),
  thinking: z.union([
    z.enum(["adaptive", "off"]),
    z.int().min(MIN_THINKING_BUDGET, `a thinking budget is at least ${MIN_THINKING_BUDGET} tokens`),
  ]).optional().openapi({
    description:
      'Extended thinking: "adaptive", "off", or a budget in tokens (at least 1024, below maxTokens); the server\'s --thinking when absent.',
  }),
  effort: z.enum(EFFORTS as [Effort, ...Effort[]]).optional().openapi({
    description: "How much effort Claude spends on each reply; the server's --effort when absent.",
  }),
}).openapi("NewConversation");

/** `POST /v1/conversations/{id}/messages`. */
export const NewMessage = z.strictObject({
  content: z.union([
    z.string().min(1, "must not be empty").max(
      MAX_TEXT_CHARS,
      `must be at most ${MAX_TEXT_CHARS} characters`,
    ),
    userBlocksSchema,
  ]).openapi({
    description:
      "The message: text, or Messages API content blocks (text; images as base64 JPEG, PNG, GIF or WebP up to 5 MiB, or an https URL; PDF or plain-text documents), attachments up to 20 MiB in all.",
  }),
}).openapi("NewMessage");

/** `POST /v1/conversations/{id}/calls/{callId}/approval`. */
export const Approval = z.strictObject({
  approved: z.boolean({ error: "must be true or false" }),
  reason: z.string().max(2_000, "must be at most 2000 characters").optional().openapi({
    description: "Told to the model with a denial.",
  }),
}).openapi("Approval");

/** `POST /v1/tasks/{id}/result`. */
export const TaskDelivery = z.strictObject({
  content: z.string().max(MAX_RESULT_BYTES * 4, "must be at most 4 MiB of text"),
  isError: z.boolean().optional(),
}).openapi("TaskDelivery");

/** `GET /v1/conversations?limit=`. */
export const Listing = z.object({
  limit: z.coerce.number({ error: "must be a number" }).int("must be a whole number")
    .min(1, "must be at least 1").max(200, "must be at most 200").default(50),
});

/** The path's conversation id. */
export const ConversationParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: crypto.randomUUID() }),
});

/** The path's conversation and call ids. */
export const CallParams = ConversationParams.extend({
  callId: z.string().openapi({ param: { name: "callId", in: "path" } }),
});

/** The path's task id. */
export const TaskParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
});

/** Every error: `{error: {type, message}}`, the message saying what to fix. */
export const ErrorBody = z.object({
  error: z.object({ type: z.string(), message: z.string() }),
}).openapi("Error");

const Usage = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  serverToolUses: z.number().optional().openapi({
    description: "Uses of Anthropic's server tools (web searches and fetches); absent when none.",
  }),
}).openapi("TokenUsage");

/** A conversation, as created and read. */
export const Conversation = z.object({
  id: z.string(),
  model: z.string(),
  tools: z.array(z.string()),
  status: z.looseObject({ state: z.enum(["running", "idle"]), queued: z.number() }),
  usage: Usage,
  cacheHitRate: z.number().nullable().openapi({
    description:
      "The share of its prompt tokens read from the prompt cache (0 to 1); null before any.",
  }),
  metadata: z.record(z.string(), z.unknown()),
}).openapi("Conversation");

/** How a turn ended: `completed` with the answer, or `failed` with the error. */
export const TurnResult = z.looseObject({
  conversationId: z.string(),
  status: z.enum(["completed", "failed"]),
  text: z.string().optional(),
  stopReason: z.string().optional(),
  error: z.object({ type: z.string(), message: z.string() }).optional(),
  steps: z.number(),
  usage: Usage,
  toolCalls: z.array(z.looseObject({ callId: z.string(), name: z.string(), status: z.string() })),
}).openapi("TurnResult");

/** One of `GET /v1/conversations`. */
export const ConversationSummary = z.object({
  id: z.string(),
  createdAt: z.number(),
  state: z.enum(["running", "idle"]),
  title: z.string(),
}).openapi("ConversationSummary");

/** A JSON body of `schema`, for a route's request or response. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

/** Why any route may answer 403: the host guard refuses names and origins it does not serve. */
export const HOST_REFUSED = "The Host or Origin is not one this server answers for";

/** The error answers a route can give, by status. */
export function errors<S extends Record<number, string>>(
  described: S,
): { [K in keyof S]: ReturnType<typeof json<typeof ErrorBody>> } {
  const entries = Object.entries(described).map((
    [status, text],
  ) => [status, json(ErrorBody, text)]);
  return Object.fromEntries(entries);
}
