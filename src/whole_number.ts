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
