/**
 * The platform's own floor under W1 (ten 200 ms waits at once, after a
 * person's pause), for the turns bench: the same timers set in this
 * process, in a Web Worker of this process, and in a Web Worker of another
 * process reached over a Unix socket (a tool host's shape, without any of
 * this runtime's code). Each is how many ms the ten took beyond 200.
 *
 * `deno run -A tests/bench/_hop_floor.ts child SOCKET` is the other process.
 *
 * @module
 */
import { delay } from "@std/async/delay";

const TIMERS = 10;
const MS = 200;
const PAUSE_MS = 1_000;
/** A worker that answers each message once its 200 ms timer fires. */
const TIMER_WORKER = `data:application/javascript,${
  encodeURIComponent(`onmessage = (e) => setTimeout(() => postMessage(e.data), ${MS})`)
}`;

/** How far past 200 ms each of `rounds` batches of ten timers ended, by where they ran. */
export async function hopFloor(rounds: number) {
  const inProcess = await batches(
    rounds,
    () => Promise.all(Array.from({ length: TIMERS }, () => delay(MS))),
  );
  using worker = timerWorker();
  const inWorker = await batches(rounds, () => worker.batch());
  await using other = await otherProcess();
  const inOtherProcess = await batches(rounds, () => other.batch());
  return { inProcess, inWorker, inOtherProcess };
}

async function batches(rounds: number, batch: () => Promise<unknown>): Promise<number[]> {
  await batch(); // unmeasured: the worker's module loads, its timers and messaging get ready
  const over: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await delay(PAUSE_MS);
    const started = performance.now();
    await batch();
    over.push(performance.now() - started - MS);
  }
  return over;
}

function timerWorker() {
  const worker = new Worker(TIMER_WORKER, { type: "module", deno: { permissions: "none" } });
  return {
    batch: () =>
      new Promise<void>((resolve) => {
        let answered = 0;
        worker.onmessage = () => ++answered === TIMERS && resolve();
        for (let i = 0; i < TIMERS; i++) worker.postMessage(i);
      }),
    [Symbol.dispose]: () => worker.terminate(),
  };
}

/** This file as a child process with a timer worker, ten lines over its socket per batch. */
async function otherProcess() {
  const path = `${await Deno.makeTempDir()}/hop.sock`;
  using listener = Deno.listen({ transport: "unix", path });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", import.meta.filename!, "child", path],
  }).spawn();
  const connection = await listener.accept();
  const buffer = new Uint8Array(1024);
  return {
    async batch() {
      await connection.write(new TextEncoder().encode("x\n".repeat(TIMERS)));
      for (let answered = 0; answered < TIMERS;) answered += (await connection.read(buffer))!;
    },
    async [Symbol.asyncDispose]() {
      connection.close();
      await child.status;
    },
  };
}

/** The child: every byte it reads starts a timer in its worker, each answered with a byte. */
async function serveChild(path: string): Promise<void> {
  const connection = await Deno.connect({ transport: "unix", path });
  const worker = new Worker(TIMER_WORKER, { type: "module", deno: { permissions: "none" } });
  worker.onmessage = () => connection.write(new Uint8Array([1]));
  const buffer = new Uint8Array(1024);
  for (let n; (n = await connection.read(buffer)) !== null;) {
    for (let i = 0; i < n; i++) if (buffer[i] === 10) worker.postMessage(0);
  }
  Deno.exit(0);
}

if (import.meta.main && Deno.args[0] === "child") await serveChild(Deno.args[1]);
