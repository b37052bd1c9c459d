/**
 * Per-call limits: what a tool declares, what the operator sets as defaults,
 * and the allowed ranges of both.
 *
 * @module
 */
import { MAX_RESULT_BYTES } from "./limit_result.ts";
import type { ToolLimits } from "./tool.ts";
import { z } from "zod";
import { wholeNumber, wholeNumberSchema } from "./whole_number.ts";

/** Every limit of one call, resolved. */
export type CallLimits = Required<ToolLimits>;

/** The smallest and largest value of each limit. */
export const LIMIT_RANGES: Readonly<Record<keyof ToolLimits, readonly [number, number]>> = {
  memoryMb: [32, 16_384],
  resultBytes: [1024, 8 * 1024 * 1024],
  progressPerSecond: [1, 100],
  progressBytes: [64, 65_536],
};

/**
 * Limits as a tool declares them or the library is given them: each within
 * its range, no other names.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { limitsSchema } from "./tool_limits.ts";
 * assertEquals(limitsSchema.safeParse({ memoryMb: 8 }).success, false); // below 32
 * ```
 */
export const limitsSchema: z.ZodType<ToolLimits> = z.strictObject(
  Object.fromEntries(
    Object.entries(LIMIT_RANGES).map(([name, [min, max]]) => [
      name,
      wholeNumberSchema(`limits.${name}`, min, max).optional(),
    ]),
  ),
  { error: `\`limits\` may only name ${Object.keys(LIMIT_RANGES).join(", ")}` },
);

/** The defaults an operator gets without setting anything. */
export const DEFAULT_LIMITS: Readonly<CallLimits> = {
  memoryMb: 256,
  resultBytes: MAX_RESULT_BYTES,
  progressPerSecond: 10,
  progressBytes: 2048,
};

/** The environment variable that sets each default. */
export const LIMIT_ENV: Readonly<Record<keyof ToolLimits, string>> = {
  memoryMb: "AGENT_TOOL_MEMORY_MB",
  resultBytes: "AGENT_TOOL_RESULT_BYTES",
  progressPerSecond: "AGENT_TOOL_PROGRESS_PER_SECOND",
  progressBytes: "AGENT_TOOL_PROGRESS_BYTES",
};

/**
 * The operator's defaults from the environment; throws a ConfigError naming
 * a value out of range.
 *
 * @example
 * ```ts
 * import { limitsFromEnv } from "./tool_limits.ts";
 * import { assertEquals } from "@std/assert";
 * const env = new Map([["AGENT_TOOL_MEMORY_MB", "512"]]);
 * assertEquals(limitsFromEnv(env).memoryMb, 512);
 * ```
 */
export function limitsFromEnv(env: Pick<Deno.Env, "get"> = Deno.env): CallLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(LIMIT_ENV) as (keyof ToolLimits)[]) {
    const [min, max] = LIMIT_RANGES[name];
    limits[name] = wholeNumber(LIMIT_ENV[name], env.get(LIMIT_ENV[name]), limits[name], min, max);
  }
  return limits;
}

/**
 * A tool's declared limits over the operator's defaults.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS, resolveLimits } from "./tool_limits.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(resolveLimits({ memoryMb: 64 }, DEFAULT_LIMITS).memoryMb, 64);
 * ```
 */
export function resolveLimits(declared: ToolLimits | undefined, defaults: CallLimits): CallLimits {
  return { ...defaults, ...declared };
}
