/**
 * A mistake in how the runtime was started or configured (flags, tool
 * modules, environment). Its message says what to fix; the CLI prints it
 * without a stack trace and exits with status 2.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config_error.ts";
 * import { assertThrows } from "@std/assert";
 * // Caught at the edge, which prints `error: <message>` and exits 2.
 * assertThrows(
 *   () => {
 *     throw new ConfigError("--max-steps must be a whole number from 1 to 1000, got \"x\"");
 *   },
 *   ConfigError,
 *   "--max-steps",
 * );
 * ```
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}
