/**
 * Tokens a model call used, as the Messages API counts them, and their sums
 * per turn and per conversation.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";

/** Tokens used: read from the prompt, written in the answer, and the prompt cache's share. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens read from the cache (billed at a fraction). */
  cacheReadTokens: number;
  /** Prompt tokens written to the cache. */
  cacheWriteTokens: number;
  /** Uses of Anthropic's server tools (web searches and fetches); absent when none. */
  serverToolUses?: number;
}

/** No tokens yet. */
export const NO_USAGE: Readonly<TokenUsage> = {
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
};

/**
 * A response's `usage` in this runtime's terms (counts the API left out are 0).
 *
 * @example
 * ```ts
 * import { usageOf } from "./token_usage.ts";
 * import { assertEquals } from "@std/assert";
 * const usage = usageOf({ input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 100 });
 * assertEquals(usage, { inputTokens: 12, outputTokens: 3, cacheReadTokens: 100, cacheWriteTokens: 0 });
 * ```
 */
export function usageOf(
  usage: Pick<Anthropic.Usage, "input_tokens" | "output_tokens"> & Partial<Anthropic.Usage>,
): TokenUsage {
  const server = usage.server_tool_use;
  const serverToolUses = (server?.web_search_requests ?? 0) + (server?.web_fetch_requests ?? 0);
  return {
    inputTokens: usage.input_tokens ?? 0,
    outputTokens: usage.output_tokens ?? 0,
    cacheReadTokens: usage.cache_read_input_tokens ?? 0,
    cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
    ...(serverToolUses > 0 ? { serverToolUses } : {}),
  };
}

/**
 * The sum of two usages.
 *
 * @example
 * ```ts
 * import { addUsage, NO_USAGE } from "./token_usage.ts";
 * import { assertEquals } from "@std/assert";
 * const one = { inputTokens: 10, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 5 };
 * assertEquals(addUsage(addUsage(NO_USAGE, one), one).cacheWriteTokens, 10);
 * ```
 */
export function addUsage(a: TokenUsage, b: TokenUsage | undefined): TokenUsage {
  if (!b) return a;
  const serverToolUses = (a.serverToolUses ?? 0) + (b.serverToolUses ?? 0);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
    ...(serverToolUses > 0 ? { serverToolUses } : {}),
  };
}

/**
 * One short line for a person.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeUsage } from "./token_usage.ts";
 * const usage = { inputTokens: 1234, outputTokens: 56, cacheReadTokens: 0, cacheWriteTokens: 0 };
 * assertEquals(describeUsage(usage), "tokens: 1,234 in, 56 out");
 * ```
 */
export function describeUsage(usage: TokenUsage): string {
  const n = (count: number) => count.toLocaleString("en-US");
  const rate = cacheHitRate(usage);
  const cache = usage.cacheReadTokens + usage.cacheWriteTokens > 0
    ? ` (cache: ${n(usage.cacheReadTokens)} read, ${n(usage.cacheWriteTokens)} written; ${
      Math.round(rate! * 100)
    }% of the prompt from cache)`
    : "";
  const server = usage.serverToolUses
    ? `, ${n(usage.serverToolUses)} server tool use${usage.serverToolUses === 1 ? "" : "s"}`
    : "";
  return `tokens: ${n(usage.inputTokens)} in, ${n(usage.outputTokens)} out${cache}${server}`;
}

/**
 * The share of prompt tokens read from the cache (0 to 1); undefined when
 * there were none.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cacheHitRate } from "./token_usage.ts";
 * assertEquals(cacheHitRate({ inputTokens: 100, outputTokens: 5, cacheReadTokens: 800, cacheWriteTokens: 100 }), 0.8);
 * ```
 */
export function cacheHitRate(usage: TokenUsage): number | undefined {
  const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  return prompt > 0 ? usage.cacheReadTokens / prompt : undefined;
}
