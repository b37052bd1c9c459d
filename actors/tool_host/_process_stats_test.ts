import { assert, assertEquals } from "@std/assert";
import { busiestThreadMs, threadCpuMs } from "./_process_stats.ts";

Deno.test("a thread that spins shows in busiestThreadMs; the thread left out does not", async () => {
  const before = threadCpuMs(Deno.pid)!;
  // Spins until its own thread has used 300 ms of CPU, however busy the machine.
  const spin = `
    import { threadCpuMs } from ${JSON.stringify(new URL("./_process_stats.ts", import.meta.url))};
    const tid = Number(Deno.readLinkSync("/proc/thread-self").split("/").at(-1));
    while (threadCpuMs(Deno.pid).get(tid) < 300);
    postMessage("done");`;
  const spinner = new Worker(`data:text/javascript,${encodeURIComponent(spin)}`, {
    type: "module",
  });
  await new Promise((resolve) => spinner.onmessage = resolve);
  const now = threadCpuMs(Deno.pid)!;
  spinner.terminate();
  assert(now.size > 1, "a process with a worker has several threads");
  // The worker's thread is new since `before`: all its CPU counts.
  assert(busiestThreadMs(before, now, Deno.pid) >= 300);
  assertEquals(busiestThreadMs(now, now, Deno.pid), 0);
});

Deno.test("busiestThreadMs leaves out the main thread however busy it was", () => {
  const before = new Map([[10, 0], [11, 5]]);
  const now = new Map([[10, 2_000], [11, 25], [12, 30]]);
  assertEquals(busiestThreadMs(before, now, 10), 30);
  assertEquals(busiestThreadMs(before, now, 99), 2_000);
});
