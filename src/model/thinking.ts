/**
 * Extended thinking and effort: how a conversation asks Claude to reason
 * before it answers, as the operator and the caller say it, and as the
 * Messages API takes it.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";

/** `"adaptive"`: Claude decides how much to think; a number: at most that many tokens; `"off"`. */
export type Thinking = "adaptive" | "off" | number;

/** How much effort Claude spends on a reply (`output_config.effort`). */
export type Effort = "low" | "medium" | "high" | "xhigh" | "max";

/** Every effort the API takes, in order. */
export const EFFORTS: readonly Effort[] = ["low", "medium", "high", "xhigh", "max"];

/** The smallest thinking budget the API takes. */
export const MIN_THINKING_BUDGET = 1024;

/**
 * Why `thinking` cannot go with replies of `maxTokens`, or undefined if it
 * can: a budget is a whole number from 1024 up to, not including, `max_tokens`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { thinkingProblem } from "./thinking.ts";
 * assertEquals(thinkingProblem(2048, 8192), undefined);
 * assertEquals(thinkingProblem(512, 8192)?.includes("from 1024 to 8191"), true);
 * ```
 */
export function thinkingProblem(thinking: Thinking, maxTokens: number): string | undefined {
  if (thinking === "adaptive" || thinking === "off") return undefined;
  if (Number.isInteger(thinking) && thinking >= MIN_THINKING_BUDGET && thinking < maxTokens) {
    return undefined;
  }
  return maxTokens <= MIN_THINKING_BUDGET
    ? `a thinking budget needs max_tokens above ${MIN_THINKING_BUDGET} (it is ${maxTokens}): raise --max-tokens, or use "adaptive"`
    : `a thinking budget is a whole number of tokens from ${MIN_THINKING_BUDGET} to ${
      maxTokens - 1
    } (below max_tokens, ${maxTokens}), "adaptive" or "off"; got ${thinking}`;
}

/**
 * `"adaptive"`, `"off"` or a budget, as written on a command line or in the
 * environment; undefined if it is none of them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseThinking } from "./thinking.ts";
 * assertEquals([parseThinking("adaptive"), parseThinking("4096"), parseThinking("lots")], ["adaptive", 4096, undefined]);
 * ```
 */
export function parseThinking(text: string): Thinking | undefined {
  if (text === "adaptive" || text === "off") return text;
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** The request's `thinking` parameter; undefined when thinking is off. */
export function thinkingParam(
  thinking: Thinking | undefined,
): Anthropic.ThinkingConfigParam | undefined {
  if (thinking === undefined || thinking === "off") return undefined;
  return thinking === "adaptive"
    ? { type: "adaptive" }
    : { type: "enabled", budget_tokens: thinking };
}
