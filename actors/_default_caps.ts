/**
 * Default sizes derived from the machine.
 *
 * @module
 */

/** What a live worker may cost, for sizing the cap: its isolate (~9 MB) and room to work. */
const WORKER_BUDGET_BYTES = 32 * 1024 * 1024;

/**
 * How many tool workers may be live at once by default: half the
 * machine's memory at 32 MiB each, from 8 to 1000.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultMaxWorkers } from "./_default_caps.ts";
 * assertEquals(defaultMaxWorkers(8 * 1024 ** 3), 128);
 * ```
 */
export function defaultMaxWorkers(totalBytes = systemMemory()): number {
  return Math.min(1000, Math.max(8, Math.floor(totalBytes / 2 / WORKER_BUDGET_BYTES)));
}

function systemMemory(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return 2 * 1024 ** 3; // not allowed to ask: assume a small machine
  }
}
