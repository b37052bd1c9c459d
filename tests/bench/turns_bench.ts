/**
 * `deno task bench`, whole turns: this runtime (in process and over HTTP)
 * against a hand-written `Promise.all` loop on the Anthropic SDK and the
 * Vercel AI SDK's `generateText`, all against one fake Messages API, with
 * the same tools. Each column runs in a process of its own, so the memory
 * it reports is its own (with its tool hosts, or its server's).
 *
 * `deno run -A tests/bench/turns_bench.ts`; `BENCH_ONLY=w1Reused,w2Reused` runs
 * only those workloads (the names of `WORKLOADS`). W2 with reused workers
 * runs three rounds, and each figure is the median.
 *
 * @module
 */
import { startFakeMessagesApi } from "../support/fake_messages_api.ts";
import { benchReplies, type Driver, DRIVERS, FLOOR_COLUMN } from "./_turn_drivers.ts";
import { peakMemory } from "../support/server_process.ts";
import { delay } from "@std/async/delay";
import { hopFloor } from "./_hop_floor.ts";

/** What a turn asks for: `<tool> <calls> <ms>`. */
const W1 = "wait 10 200";
const W1_REUSED = "wait_reused 10 200";
const W2 = "wait 3 100";
export const W2_REUSED = "wait_reused 3 100";
const W3 = "burn 2 500";
const CONVERSATIONS = 50;
const SECONDS = 5;
const CROWD = 1_000;
/**
 * The pause between the turns whose wall time is measured, as between a
 * person's messages: warm workers are refilled in it, as in use. (Back to
 * back, a turn of ten fresh calls would find them still starting.)
 */
const THINK_MS = 1_000;

/** The figures of one column. */
interface Figures {
  w1: number;
  w1Reused: number;
  w2: number;
  w2Reused: number;
  w3: number;
  peakBytes: number;
  crowdMs: number;
  crowdPeakBytes: number;
  crowdResults: number;
}

/** Each workload runs in a fresh process, so none inherits another's warm pools or garbage. */
const WORKLOADS: Record<string, (driver: Driver) => Promise<Partial<Figures>>> = {
  w1: async (driver) => ({ w1: await medianWall(driver, W1, 9) }),
  w1Reused: async (driver) => ({ w1Reused: await medianWall(driver, W1_REUSED, 9) }),
  w3: async (driver) => ({ w3: await medianWall(driver, W3, 3) }),
  w2: async (driver) => ({ w2: (await turnRate(driver, W2)).rate }),
  w2Reused: async (driver) => {
    const { rate, peakBytes } = await turnRate(driver, W2_REUSED);
    return { w2Reused: rate, peakBytes };
  },
  crowd: async (driver) => {
    const { ms, peakBytes, results } = await crowdRun(driver);
    return { crowdMs: ms, crowdPeakBytes: peakBytes, crowdResults: results };
  },
};

/** The held figures: all that the traced column and the floor beside them run. */
const HELD_WORKLOADS = ["w1Reused", "w2Reused"];

/**
 * Workloads run in rounds, each column once per round, reporting each
 * figure's median: W2's rate swings most with the machine's other load.
 */
const ROUNDS: Record<string, number> = { w2Reused: 3 };

if (Deno.args.length > 0) {
  const [column, workload] = Deno.args;
  {
    // Disposed before the exit below: a server it started must not outlive the run.
    await using driver = await DRIVERS[column](Deno.env.get("BENCH_API_URL")!);
    console.log(JSON.stringify(await WORKLOADS[workload](driver)));
  }
  Deno.exit(0);
}

await using api = startFakeMessagesApi(benchReplies);
const forget = setInterval(() => api.requests.length = 0, 500); // only the columns are measured
// Where the traced column's spans go: received and dropped, as a collector on loopback would.
await using collector = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (request) => {
    await request.body?.cancel();
    return Response.json({});
  },
);
const TRACING_ENV = {
  OTEL_DENO: "true",
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
};
const only = Deno.env.get("BENCH_ONLY")?.split(",");
const chosen = (workload: string) => !only || only.includes(workload);
const traced = (column: string) => column.endsWith("(traced)");
const heldOnly = (column: string) => traced(column) || column === FLOOR_COLUMN;
// Tracing's cost and the floor show in the held figures; the rest would only repeat other columns.
const runsWorkload = (column: string, workload: string) =>
  chosen(workload) && (!heldOnly(column) || HELD_WORKLOADS.includes(workload));
const figures = new Map(Object.keys(DRIVERS).map((column) => [column, {} as Partial<Figures>]));
// Workload by workload, every column in turn, so that the machine's other load, which drifts
// over minutes, weighs on the columns of one workload alike.
for (const workload of Object.keys(WORKLOADS)) {
  const columns = Object.keys(DRIVERS).filter((column) => runsWorkload(column, workload));
  const runs = new Map(columns.map((column) => [column, [] as Partial<Figures>[]]));
  for (let round = 0; round < (ROUNDS[workload] ?? 1); round++) {
    for (const column of columns) {
      const env = traced(column) ? TRACING_ENV : {};
      runs.get(column)!.push(await runWorkload(column, workload, env));
    }
  }
  for (const column of columns) Object.assign(figures.get(column)!, medianOf(runs.get(column)!));
}
clearInterval(forget);
printTable([...figures]);
if (chosen("w1Reused")) await printFloor();

/** W1's shape without this runtime: where ten 200 ms timers run, and what each hop adds. */
async function printFloor(): Promise<void> {
  const floor = await hopFloor(9);
  const over = (values: number[]) => `${median(values).toFixed(1)} ms`;
  console.log(
    `\nThe platform's floor under W1 (ten 200 ms timers after 1 s idle, median of 9, beyond 200 ms): ` +
      `${over(floor.inProcess)} in process, ${over(floor.inWorker)} in a Web Worker, ` +
      `${over(floor.inOtherProcess)} in a Web Worker of another process over a Unix socket.`,
  );
}

/** Each figure's median over the runs of one workload. */
function medianOf(runs: Partial<Figures>[]): Partial<Figures> {
  const keys = Object.keys(runs[0]) as (keyof Figures)[];
  return Object.fromEntries(keys.map((key) => [key, median(runs.map((run) => run[key]!))]));
}

/**
 * One workload in a fresh process. A process that Deno itself crashed (a
 * signal, no error of ours: a fault in a thread of Deno's own, seen in
 * about one run of the held workloads in two) is said on stderr and run
 * once more, so that the rest of a 25-minute run still gets its figures.
 */
async function runWorkload(
  column: string,
  workload: string,
  env: Record<string, string>,
  again = true,
): Promise<Partial<Figures>> {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `--lock=${new URL("./deno.lock", import.meta.url).pathname}`,
      import.meta.filename!,
      column,
      workload,
    ],
    env: { BENCH_API_URL: api.url, ...env },
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(child.stdout).trim().split("\n");
  if (child.signal && again) {
    console.error(`${column}, ${workload}: Deno was stopped by ${child.signal}; running it again.`);
    return runWorkload(column, workload, env, false);
  }
  if (!child.success) throw new Error(`${column}, ${workload} failed: ${lines.join("\n")}`);
  return JSON.parse(lines.at(-1)!);
}

/** The median wall time of a turn, after two unmeasured ones (hosts and pools warm). */
async function medianWall(driver: Driver, ask: string, samples: number): Promise<number> {
  const converse = await driver.open();
  await converse(ask);
  await converse(ask);
  const walls: number[] = [];
  for (let i = 0; i < samples; i++) {
    await delay(THINK_MS);
    const started = performance.now();
    await converse(ask);
    walls.push(performance.now() - started);
  }
  return median(walls);
}

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
}

/**
 * Turns a second of 50 conversations at once, each in a closed loop; then
 * the peak memory over as long again. Apart, because sampling memory costs
 * CPU in the measured process itself (the in-process columns).
 */
async function turnRate(driver: Driver, ask: string) {
  const conversations = await Promise.all(
    Array.from({ length: CONVERSATIONS }, () => driver.open()),
  );
  await Promise.all(conversations.map((converse) => converse(ask)));
  const loop = async () => {
    let turns = 0;
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(conversations.map(async (converse) => {
      while (performance.now() < until) {
        await converse(ask);
        turns++;
      }
    }));
    return turns;
  };
  const started = performance.now();
  const turns = await loop();
  const rate = turns / ((performance.now() - started) / 1000);
  return { rate, peakBytes: await peakMemory(driver.pid, loop()) };
}

/** 1,000 conversations at once, one 3-call turn each: wall, peak memory, results returned. */
async function crowdRun(driver: Driver) {
  const conversations = await Promise.all(Array.from({ length: CROWD }, () => driver.open()));
  const started = performance.now();
  const turns = Promise.all(conversations.map((converse) => converse(W2)));
  const peakBytes = await peakMemory(driver.pid, turns);
  const results = (await turns).reduce((sum, count) => sum + count, 0);
  return { ms: performance.now() - started, peakBytes, results };
}

function printTable(columns: [string, Partial<Figures>][]): void {
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
  const rate = (value: number) => value.toFixed(1);
  const row = (label: string, key: keyof Figures, format: (value: number) => string) => [
    label,
    ...columns.map(([, figures]) => figures[key] === undefined ? "–" : format(figures[key])),
  ];
  const rows = [
    ["", ...columns.map(([name]) => name)],
    row("W1: 10 × 200 ms I/O, turn wall: fresh", "w1", ms),
    row("                                reused", "w1Reused", ms),
    row("W2: 50 convs, 3 × 100 ms, turns/s: fresh", "w2", rate),
    row("                                   reused", "w2Reused", rate),
    row("W3: 2 × 500 ms CPU-bound, turn wall", "w3", ms),
    row("W5: peak memory (PSS) during W2 reused", "peakBytes", mb),
    row("1,000 convs × 3 calls at once: wall", "crowdMs", ms),
    row("                          peak memory", "crowdPeakBytes", mb),
    row("                      results returned", "crowdResults", String),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((cells) => cells[i].length)));
  console.log(
    `\nWhole turns against the fake Messages API (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores)\n`,
  );
  for (const cells of rows) console.log(cells.map((cell, i) => cell.padEnd(widths[i])).join("   "));
}
