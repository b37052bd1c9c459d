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
 * import { assert } from "@std/assert";
 * import { processStats } from "./_process_stats.ts";
 * assert((processStats(Deno.pid)?.rssBytes ?? 1) > 0); // undefined off Linux
 * ```
 */
export function processStats(pid: number): ProcessStats | undefined {
  const fields = statFields(`/proc/${pid}/stat`);
  if (!fields) return undefined;
  return {
    rssBytes: Number(fields[21]) * PAGE_BYTES,
    cpuMs: cpuMsOf(fields),
    parentPid: Number(fields[1]),
  };
}

/**
 * CPU time so far of each thread of a process, by thread id (the main
 * thread's id is the pid); threads that end while being read are left out.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { threadCpuMs } from "./_process_stats.ts";
 * assert((threadCpuMs(Deno.pid)?.get(Deno.pid) ?? 0) >= 0); // undefined off Linux
 * ```
 */
export function threadCpuMs(pid: number): Map<number, number> | undefined {
  const cpu = new Map<number, number>();
  try {
    for (const { name } of Deno.readDirSync(`/proc/${pid}/task`)) {
      const fields = statFields(`/proc/${pid}/task/${name}/stat`);
      if (fields) cpu.set(Number(name), cpuMsOf(fields));
    }
  } catch {
    return undefined;
  }
  return cpu;
}

/**
 * The most CPU time any thread but `except` used between two readings of
 * {@linkcode threadCpuMs}; a thread new since `before` counts from its start.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { busiestThreadMs } from "./_process_stats.ts";
 * const before = new Map([[1, 500], [2, 40]]);
 * const now = new Map([[1, 900], [2, 70], [3, 20]]);
 * assertEquals(busiestThreadMs(before, now, 1), 30);
 * ```
 */
export function busiestThreadMs(
  before: Map<number, number>,
  now: Map<number, number>,
  except: number,
): number {
  let most = 0;
  for (const [tid, cpuMs] of now) {
    if (tid !== except) most = Math.max(most, cpuMs - (before.get(tid) ?? 0));
  }
  return most;
}

/** The fields after the command name, which is in parentheses and may hold spaces. */
function statFields(path: string): string[] | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function cpuMsOf(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
}
