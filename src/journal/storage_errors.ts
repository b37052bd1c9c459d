/**
 * What can go wrong under the journal, in the words an operator acts on:
 * contention between processes (retried), and a store that cannot be
 * written (the disk is full, the file is damaged or read-only).
 *
 * @module
 */
import { retry } from "@std/async/retry";

/**
 * The journal cannot be written or read right now; `reason` says why and what
 * to do. The HTTP API answers 503 with it, and the runtime keeps trying.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { JournalUnavailable } from "./storage_errors.ts";
 * const error = new JournalUnavailable("the disk is full");
 * assertEquals(error.message, "The journal is unavailable: the disk is full.");
 * ```
 */
export class JournalUnavailable extends Error {
  override name = "JournalUnavailable";
  readonly reason: string;

  constructor(reason: string) {
    super(`The journal is unavailable: ${reason}.`);
    this.reason = reason;
  }
}

const PROBLEMS: [RegExp, string][] = [
  [
    /disk is full|No space left/i,
    "the disk is full; free some space and it will recover by itself",
  ],
  [/malformed|not a database|corrupt/i, "the journal file is damaged (restore it from a backup)"],
  [
    /readonly|read-only|permission denied/i,
    "the journal file cannot be written (check its permissions)",
  ],
  [/disk I\/O error|Input\/output error/i, "the disk reports an I/O error"],
  [
    /unable to open database/i,
    "the journal file cannot be opened for writing (check that its folder exists and is writable)",
  ],
];

/**
 * The operator's reading of a storage error, or undefined if `error` is not
 * one (a bug, or a value too large, is not the store's fault).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { storageProblem } from "./storage_errors.ts";
 * assertEquals(
 *   storageProblem(new TypeError("database or disk is full")),
 *   "the disk is full; free some space and it will recover by itself",
 * );
 * ```
 */
export function storageProblem(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  return PROBLEMS.find(([pattern]) => pattern.test(message))?.[1];
}

/** SQLite answers "database is locked" when another process writes the same file. */
function isBusy(error: unknown): boolean {
  return error instanceof Error && /database (table )?is locked|SQLITE_BUSY/i.test(error.message);
}

/**
 * Runs `operation`, again after a short randomized pause while the store is
 * busy with another process's write (for up to about 5 s in all). A busy
 * store never committed the failed attempt, so retrying it is safe.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { retryWhileBusy } from "./storage_errors.ts";
 * let tries = 0;
 * const value = await retryWhileBusy(() => {
 *   if (++tries < 3) throw new TypeError("database is locked");
 *   return tries;
 * });
 * assertEquals(value, 3);
 * ```
 */
export async function retryWhileBusy<T>(operation: () => T | Promise<T>): Promise<T> {
  try {
    return await retry(operation, {
      isRetriable: isBusy,
      maxAttempts: 14,
      minTimeout: 5,
      maxTimeout: 800,
      multiplier: 2,
      jitter: 1,
    }) as T;
  } catch (error) {
    // The store stayed busy for seconds: report the last "locked", not a RetryError.
    throw error instanceof Error && error.name === "RetryError" ? error.cause : error;
  }
}
