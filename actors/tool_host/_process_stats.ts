/**
 * What a process uses, read from Linux's /proc; `undefined` elsewhere or
 * once the process is gone.
 *
 * @module
 */

/** Resident memory and CPU time so far, and the parent's pid. */
export interface ProcessStats {
  rssBytes: number;
  cpuMs: number;
  parentPid: number;
}

const PAGE_BYTES = 4096;
const TICK_MS = 10; // USER_HZ is 100 on every Linux this runs on

/**
 * Reads `/proc/PID/stat`.
 *
 * @example
 * ```ts
 * import { processStats } from "./_process_stats.ts";
 * console.log(processStats(Deno.pid)?.rssBytes);
 * ```
 */
export function processStats(pid: number): ProcessStats | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return {
    rssBytes: rssPages * PAGE_BYTES,
    cpuMs: (utime + stime) * TICK_MS,
    parentPid: Number(fields[1]),
  };
}
