/**
 * Retries for idempotent tools: a call that failed or timed out runs again
 * after an exponential backoff with jitter, until it succeeds or its
 * attempts are spent. Built on `@std/async/retry`.
 *
 * @module
 */
import { retry } from "@std/async/retry";
import type { ToolCallOutcome } from "../tool_executor.ts";

/** How one call is retried. */
export interface AttemptPlan {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The first backoff; each next one doubles, less up to half at random. */
  backoffMs: number;
  /** Stops retrying (the backoff, not a running attempt: that is the executor's to cancel). */
  signal: AbortSignal;
}

class AttemptFailed extends Error {}

/**
 * Runs `attempt(1)`, then `attempt(2)`… while the outcome is a failure or a
 * timeout and attempts remain; resolves with the last outcome. A failure
 * after several attempts says how many there were.
 *
 * @example
 * ```ts
 * import { runAttempts } from "./run_attempts.ts";
 * import { assertEquals } from "@std/assert";
 * let calls = 0;
 * const outcome = await runAttempts((n) => {
 *   calls++;
 *   return Promise.resolve({ status: n < 2 ? "failed" : "succeeded", content: `try ${n}`, ms: 0 } as const);
 * }, { attempts: 3, backoffMs: 1, signal: new AbortController().signal });
 * assertEquals([calls, outcome.content], [2, "try 2"]);
 * ```
 */
export async function runAttempts(
  attempt: (n: number) => Promise<ToolCallOutcome>,
  { attempts, backoffMs, signal }: AttemptPlan,
): Promise<ToolCallOutcome> {
  let last: ToolCallOutcome | undefined;
  let n = 0;
  try {
    await retry(async () => {
      last = await attempt(++n);
      if (n < attempts && (last.status === "failed" || last.status === "timed_out")) {
        throw new AttemptFailed();
      }
      return last;
    }, {
      maxAttempts: attempts,
      minTimeout: backoffMs,
      maxTimeout: 60_000,
      multiplier: 2,
      jitter: 0.5,
      signal,
      isRetriable: (error: unknown) => error instanceof AttemptFailed,
    });
  } catch {
    // Cancelled during a backoff.
    return { status: "cancelled", content: "Cancelled while waiting to retry.", ms: last?.ms ?? 0 };
  }
  const outcome = last!;
  if (n === 1 || outcome.status === "succeeded") return outcome;
  return {
    ...outcome,
    content: `Failed after ${n} attempts; the last one said: ${outcome.content}`,
  };
}
