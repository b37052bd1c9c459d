/**
 * A mistake in how the runtime was started or configured (flags, tool
 * modules, environment). Its message says what to fix; the CLI prints it
 * without a stack trace and exits with status 2.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config_error.ts";
 * try {
 *   throw new ConfigError("--max-steps must be a whole number from 1 to 1000, got \"x\"");
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(`error: ${error.message}`);
 * }
 * ```
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}
