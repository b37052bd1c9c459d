/**
 * Deno's own ceiling on fresh isolates, for the runtime bench: creates
 * empty Web Workers (no permissions, one message answered) and terminates
 * them, `IN_FLIGHT` at a time for `MS` milliseconds, and prints how many a
 * second. It runs as a process of its own, so that the bench can run it in
 * several processes at once.
 *
 * `deno run --unstable-worker-options tests/bench/_empty_workers.ts 16 3000`
 *
 * @module
 */
const EMPTY = `data:application/javascript,${
  encodeURIComponent("onmessage = () => postMessage(0)")
}`;

function emptyWorker(): Promise<void> {
  return new Promise((resolve) => {
    const worker = new Worker(EMPTY, { type: "module", deno: { permissions: "none" } });
    worker.onmessage = () => {
      worker.terminate();
      resolve();
    };
    worker.postMessage(0);
  });
}

const [inFlight, ms] = Deno.args.map(Number);
let created = 0;
const started = performance.now();
await Promise.all(Array.from({ length: inFlight }, async () => {
  while (performance.now() - started < ms) {
    await emptyWorker();
    created++;
  }
}));
console.log(created / ((performance.now() - started) / 1000));
