/**
 * When a conversation's history is compacted, where, and the request that
 * summarizes it. Pure: the supervisor makes the call and journals the
 * summary as a `compacted` record, after which the model is sent the
 * summary and the turns that follow it (`historyOf`).
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import { type CompactionBlock, type ConversationState, historyOf } from "../journal/records.ts";
import { ModelError, type ModelRequest } from "./model.ts";

/** How a system compacts its conversations. */
export interface CompactionSettings {
  /** Off: a conversation that outgrows the window fails its turns, as the API answers. */
  enabled: boolean;
  /** The model's context window, in tokens. */
  windowTokens: number;
}

/** The default: on, for Claude's 200,000-token window. */
export const DEFAULT_COMPACTION: CompactionSettings = { enabled: true, windowTokens: 200_000 };

/** Compaction starts once a request has used this share of the window. */
const THRESHOLD = 0.75;

/** The room the summary may take. */
const SUMMARY_TOKENS = 4096;

/** What the model is asked, at the end of the history it summarizes. */
export const SUMMARIZE =
  "Summarize our conversation so far for yourself, to continue it without the full history: the user's goals and instructions, the facts and decisions established, what each tool call found, and any work still open. Be complete but concise; write only the summary.";

/**
 * The tokens the conversation's last request and reply took, from the last
 * reply's usage (input, cached input, output): how full the window is.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { contextTokensOf } from "./compaction.ts";
 * assertEquals(contextTokensOf({ transcript: [] } as never), 0);
 * ```
 */
export function contextTokensOf(state: ConversationState): number {
  const last = state.transcript.findLast((record) => record.type === "assistant");
  if (last?.type !== "assistant" || !last.usage) return 0;
  const { inputTokens, cacheReadTokens, cacheWriteTokens, outputTokens } = last.usage;
  return inputTokens + cacheReadTokens + cacheWriteTokens + outputTokens;
}

/** Whether the history should be compacted before the next request. */
export function shouldCompact(state: ConversationState, settings: CompactionSettings): boolean {
  return contextTokensOf(state) >= settings.windowTokens * THRESHOLD &&
    canCompact(state, settings);
}

/** Whether compaction is on and there is history before the newest turn to summarize. */
export function canCompact(state: ConversationState, settings: CompactionSettings): boolean {
  return settings.enabled && compactionPoint(state) !== undefined;
}

/**
 * Where a compaction keeps the history whole from: the start of the newest
 * turn (a summary never splits a turn, so every `tool_use` keeps its
 * result), or undefined if nothing before it is left to summarize.
 */
export function compactionPoint(state: ConversationState): number | undefined {
  const start = state.transcript.findLastIndex((record) => record.type === "turn_started");
  return start > (state.compaction?.keepFrom ?? 0) ? start : undefined;
}

/**
 * A turn start about halfway between the last compaction and `target`:
 * where to summarize up to first when the history before `target` is itself
 * too long to summarize at once. Undefined if there is none.
 */
export function halfwayPoint(state: ConversationState, target: number): number | undefined {
  const from = state.compaction?.keepFrom ?? 0;
  const starts = state.transcript.flatMap((record, i) =>
    record.type === "turn_started" && i > from && i < target ? [i] : []
  );
  return starts[Math.floor(starts.length / 2)];
}

/**
 * The request that summarizes the history before `keepFrom` (with the
 * previous summary, if any): the same model, system prompt and tools, so
 * the tool calls in it are understood.
 */
export function summaryRequest(
  state: ConversationState,
  keepFrom: number,
  tools: Anthropic.ToolUnion[],
): ModelRequest {
  const before = { ...state, transcript: state.transcript.slice(0, keepFrom) };
  const messages = historyOf(before);
  const ask: Anthropic.TextBlockParam = { type: "text", text: SUMMARIZE };
  const last = messages.at(-1);
  if (last?.role === "user" && Array.isArray(last.content)) {
    messages[messages.length - 1] = { role: "user", content: [...last.content, ask] };
  } else messages.push({ role: "user", content: [ask] });
  return {
    model: state.modelName,
    system: state.system,
    messages,
    tools,
    maxTokens: SUMMARY_TOKENS,
    compact: true,
  };
}

/** The beta of Claude's own compaction request (`compaction: {type: "summarize"}`). */
export const COMPACT_BETA = "compact-2026-09-04";

/**
 * A {@linkcode summaryRequest} as Claude's own compaction takes it: the
 * history alone, without the runtime's prompt to summarize it (the last block).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SUMMARIZE, withoutSummaryPrompt } from "./compaction.ts";
 * const request = withoutSummaryPrompt({
 *   model: "claude-x", maxTokens: 10, tools: [], compact: true,
 *   messages: [{ role: "user", content: [{ type: "text", text: "Hi" }, { type: "text", text: SUMMARIZE }] }],
 * });
 * assertEquals(request.messages, [{ role: "user", content: [{ type: "text", text: "Hi" }] }]);
 * ```
 */
export function withoutSummaryPrompt(request: ModelRequest): ModelRequest {
  const messages = [...request.messages];
  const last = messages.at(-1);
  if (last && Array.isArray(last.content)) {
    const content = last.content.slice(0, -1);
    if (content.length > 0) {
      messages[messages.length - 1] = { ...last, content } as Anthropic.MessageParam;
    } else messages.pop();
  }
  return { ...request, messages };
}

/**
 * The summary a reply to a {@linkcode summaryRequest} holds: Claude's
 * `compaction` block, kept exactly as it came, or the text the model wrote.
 * Undefined when it holds none.
 */
export function summaryOfReply(
  content: Anthropic.ContentBlock[],
): { summary: string; block?: CompactionBlock } | undefined {
  const block = (content as { type: string }[]).find((block): block is CompactionBlock =>
    block.type === "compaction"
  );
  if (block) return block.content ? { summary: block.content, block } : undefined;
  const text = content.flatMap((block) => block.type === "text" ? [block.text] : []).join("");
  return text ? { summary: text } : undefined;
}

/**
 * Whether the API refused a request for its length: 400 "prompt is too
 * long", or 413 for a body over its size limit.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { ModelError } from "./model.ts";
 * import { isTooLong } from "./compaction.ts";
 * assert(isTooLong(new ModelError("invalid_request_error", "prompt is too long: 5651 tokens > 3000 maximum", 400)));
 * ```
 */
export function isTooLong(error: unknown): boolean {
  if (!(error instanceof ModelError)) return false;
  return error.status === 413 || error.type === "request_too_large" ||
    (error.status === 400 && /prompt is too long|too many tokens/i.test(error.message));
}
