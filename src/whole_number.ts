import { z } from "zod";
import { ConfigError } from "./config_error.ts";

/**
 * Reads a whole-number setting (a flag or an environment variable), or
 * `fallback` when it is not given. Throws a {@linkcode ConfigError} naming
 * the setting and its range otherwise.
 *
 * @example
 * ```ts
 * import { wholeNumber } from "./whole_number.ts";
 * wholeNumber("PORT", "8080", 8000, 0, 65535); // 8080
 * ```
 */
export function wholeNumber(
  name: string,
  raw: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(String(raw)) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

/**
 * The same rule for a value given as a number (a tool's declaration, a
 * library option): a zod schema whose messages name the setting and its range.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { wholeNumberSchema } from "./whole_number.ts";
 * assertEquals(wholeNumberSchema("retries", 0, 10).safeParse(11).success, false);
 * ```
 */
export function wholeNumberSchema(name: string, min: number, max: number): z.ZodNumber {
  return z.number({ error: `\`${name}\` must be a number` })
    .int(`\`${name}\` must be a whole number`)
    .min(min, `\`${name}\` must be from ${min} to ${max}`)
    .max(max, `\`${name}\` must be from ${min} to ${max}`);
}
