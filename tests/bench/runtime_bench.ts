/**
 * `deno task bench`: the tool-worker runtime against the in-process
 * baseline (a plain `Promise.all` of the same tools, as the SDK's own tool
 * runner does), measured side by side in one run.
 *
 * @module
 */
import { delay } from "@std/async/delay";
import { CallSlots } from "../../actors/call_slots.ts";
import { callPolicies } from "../../actors/scheduler/call_policies.ts";
import { runToolCalls } from "../../actors/supervisor/run_tool_calls.ts";
import { callPlacement, type ToolBatchContext } from "../../actors/supervisor/tool_batch.ts";
import { TaskBoard } from "../../actors/task_board.ts";
import type { ToolExecutor } from "../../actors/tool_executor.ts";
import { HostExecutor } from "../../actors/tool_host/host_executor.ts";
import { McpExecutor } from "../../actors/mcp/mcp_executor.ts";
import { EVERYTHING } from "../support/mcp_servers.ts";
import { WorkerExecutor } from "../../actors/tool_worker/worker_executor.ts";
import type { Tool } from "../../src/tool.ts";
import { ToolCatalog } from "../../src/tool_catalog.ts";
import { DEFAULT_LIMITS } from "../../src/tool_limits.ts";
import { KvJournal } from "../../src/journal/kv_journal.ts";
import type { CallRecord } from "../../src/journal/records.ts";
import { ApprovalDesk } from "../../actors/supervisor/approval_desk.ts";
import noopTool from "./tools/noop.ts";
import wait from "./tools/wait.ts";
import burn from "./tools/burn.ts";

const catalog = await ToolCatalog.load([new URL("./tools/", import.meta.url)]);
// The worker side journals every call in a real KV file, as a conversation does.
const dataDir = await Deno.makeTempDir();
const journal = await KvJournal.open(`${dataDir}/journal.kv`);
const signal = new AbortController().signal;

/** A conversation's batch context on `executor`, journaling into its own log. */
async function batchContext(id: string, executor: ToolExecutor): Promise<ToolBatchContext> {
  await journal.create(id, { type: "created", modelName: "bench", at: Date.now() });
  let seq = 0;
  return {
    conversationId: id,
    catalog,
    allowed: catalog.names,
    defaultTimeoutMs: 60_000,
    turnLimitMs: 60_000,
    signal,
    emit: () => {},
    record: async (updates) => {
      seq = (await journal.append(
        id,
        seq,
        updates.map((update) => ({ type: "call" as const, ...update })),
      ))!;
    },
    tasks: new TaskBoard(journal, id, () => {}),
    handOff: false,
    executor,
    limits: DEFAULT_LIMITS,
    slots: new CallSlots({ max: 10_000, maxQueued: 10_000 }),
    policies: callPolicies(),
    approvals: new ApprovalDesk(journal, id),
  };
}

function calls(name: string, count: number, input: unknown): CallRecord[] {
  return Array.from(
    { length: count },
    (_, i) => ({ callId: `toolu_${i}`, name, input, state: "queued", attempts: 0 }),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** `count` timings of `fn`, sorted, each after a pause of `pauseMs`. */
async function samples(
  count: number,
  fn: () => Promise<unknown>,
  pauseMs = 0,
): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) {
    if (pauseMs > 0) await delay(pauseMs);
    result.push(await timed(fn));
  }
  return result.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const ms = (value: number) => `${value.toFixed(1)} ms`;
const inProcess = (tool: Tool, count: number, input: unknown) => () =>
  Promise.all(
    Array.from({ length: count }, () =>
      tool.run(input as never, {
        callId: "x",
        conversationId: "bench",
        metadata: {},
        signal,
        progress: () => {},
        handOff: () => ({ taskId: "", secret: "", resultPath: "" }),
      })),
  );

const median = (values: number[]) => percentile(values.toSorted((a, b) => a - b), 0.5);
const inProcessNoop = inProcess(noopTool as Tool, 1, {});

/** Fresh workers (the default), and workers the tool allows to be reused. */
interface Figures {
  batch: number;
  batchReused: number;
  cpu: number;
  turnsPerSecond: number;
  turnsPerSecondReused: number;
}

/** A no-op call of tool `name` on `executor`, as the runtime places it. */
const noopCall = (executor: ToolExecutor, name: string) => () =>
  executor.run({
    name,
    ...callPlacement(catalog.get(name)!, "noop", DEFAULT_LIMITS),
    callId: "x",
    input: {},
    timeoutMs: 10_000,
  });

/**
 * Sorted no-op call times of tool `name` on each executor, sampled in turn
 * (one call on each, then again), so that the machine's other load weighs
 * on every executor alike. With `pauseMs`, each call waits that long first,
 * long enough for its executor to have a warm worker ready.
 */
async function alternatingNoops(
  executors: ToolExecutor[],
  name: string,
  pauseMs = 0,
): Promise<number[][]> {
  const calls = executors.map((executor) => noopCall(executor, name));
  for (const call of calls) await call(), await call(); // start hosts, fill the warm pools
  const times: number[][] = executors.map(() => []);
  for (let i = 0; i < 60; i++) {
    for (const [at, call] of calls.entries()) {
      await delay(pauseMs);
      times[at].push(await timed(call));
    }
  }
  return times.map((list) => list.sort((a, b) => a - b));
}

/** Every figure for one executor; each measurement is warmed first, as a running server is. */
async function measure(label: string, executor: ToolExecutor): Promise<Figures> {
  const context = await batchContext(label, executor);
  const batchOf = (name: string) => () => runToolCalls(calls(name, 10, { ms: 200 }), context);
  const contexts = await Promise.all(
    Array.from({ length: 50 }, (_, i) => batchContext(`${label}-${i}`, executor)),
  );
  const turnsOf = (name: string) => {
    const turn = (i: number) => runToolCalls(calls(name, 3, { ms: 100 }), contexts[i]);
    return Promise.all(contexts.map((_, i) => turn(i))).then(() => turnRate(turn));
  };
  return {
    batch: median(await warmSamples(7, batchOf("wait"))),
    batchReused: median(await warmSamples(7, batchOf("wait_reused"))),
    cpu: median(await samples(3, () => runToolCalls(calls("burn", 2, { ms: 500 }), context))),
    turnsPerSecond: await turnsOf("wait"),
    turnsPerSecondReused: await turnsOf("wait_reused"),
  };
}

/**
 * Samples 1 s apart, as a person's turns come (warm workers are replaced
 * between them), after two unmeasured runs, which start hosts and fill the
 * warm pools.
 */
async function warmSamples(count: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  await fn();
  return samples(count, fn, 1_000);
}

/** 3-tool turns a second: 50 conversations at once, each running `turn` over and over for 5 s. */
function turnRate(turn: (conversation: number) => Promise<unknown>): Promise<number> {
  return perSecond(50, 5_000, turn);
}

/** How many times a second `fn` completes, run by `lanes` loops at once for `ms`. */
async function perSecond(
  lanes: number,
  ms: number,
  fn: (lane: number) => Promise<unknown>,
): Promise<number> {
  let done = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    while (performance.now() - started < ms) {
      await fn(lane);
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

const IN_FLIGHT = 16;
const RATE_MS = 3_000;
const EMPTY_WORKERS = new URL("./_empty_workers.ts", import.meta.url).pathname;

/**
 * Deno's own ceiling on fresh isolates: empty workers a second, created
 * `IN_FLIGHT` at a time in each of `processes` processes at once, summed.
 */
async function emptyWorkerRate(processes: number): Promise<number> {
  const run = async () => {
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--unstable-worker-options", EMPTY_WORKERS, `${IN_FLIGHT}`, `${RATE_MS}`],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(stdout));
  };
  const rates = await Promise.all(Array.from({ length: processes }, run));
  return rates.reduce((sum, rate) => sum + rate, 0);
}

/**
 * Fresh no-op calls a second on each executor, `IN_FLIGHT` at a time, and
 * Deno's empty workers a second in one process and in one process per
 * core; medians of 3 rounds, each taken in turn, so the machine's other
 * load weighs on all alike.
 */
async function freshRates(executors: ToolExecutor[]) {
  const cores = navigator.hardwareConcurrency;
  const rounds = {
    executors: executors.map(() => [] as number[]),
    one: [] as number[],
    all: [] as number[],
  };
  for (let round = 0; round < 3; round++) {
    for (const [at, executor] of executors.entries()) {
      rounds.executors[at].push(await perSecond(IN_FLIGHT, RATE_MS, noopCall(executor, "noop")));
    }
    rounds.one.push(await emptyWorkerRate(1));
    rounds.all.push(await emptyWorkerRate(cores));
  }
  return {
    executors: rounds.executors.map(median),
    emptyInOne: median(rounds.one),
    emptyOnAllCores: median(rounds.all),
    cores,
  };
}

async function measureInProcess(): Promise<Figures> {
  const batch = median(await samples(7, inProcess(wait as Tool, 10, { ms: 200 })));
  const cpu = median(await samples(3, inProcess(burn as Tool, 2, { ms: 500 })));
  const turnsPerSecond = await turnRate(inProcess(wait as Tool, 3, { ms: 100 }));
  // In process, every call "reuses" the one isolate.
  return {
    batch,
    batchReused: batch,
    cpu,
    turnsPerSecond,
    turnsPerSecondReused: turnsPerSecond,
  };
}

/** A trivial MCP call (the reference server's `echo`, over stdio), as the runtime makes it. */
async function measureMcp(): Promise<number[]> {
  await using mcp = new McpExecutor({ everything: EVERYTHING });
  const echo = (await mcp.listTools()).find((tool) => tool.name === "everything__echo")!;
  // Awaited here: the server is stopped when this function returns.
  return await warmSamples(60, () =>
    mcp.run({
      name: echo.name,
      ...callPlacement(echo, "mcp", DEFAULT_LIMITS),
      callId: "x",
      input: { message: "hi" },
      timeoutMs: 10_000,
    }));
}

const hosts = new HostExecutor();
const workers = new WorkerExecutor();
const noops = {
  spawned: [...await alternatingNoops([hosts, workers], "noop"), await samples(60, inProcessNoop)],
  fresh: [
    ...await alternatingNoops([hosts, workers], "noop", 200),
    await samples(60, inProcessNoop),
  ],
  reused: [
    ...await alternatingNoops([hosts, workers], "noop_reused"),
    await samples(60, inProcessNoop),
  ],
};
const columns: [string, Figures][] = [
  ["tool hosts (default)", await measure("hosts", hosts)],
  ["workers in process", await measure("workers", workers)],
  ["Promise.all in process", await measureInProcess()],
];
const fresh = await freshRates([hosts, workers]);
const noopsPerSecond = await perSecond(IN_FLIGHT, RATE_MS, inProcessNoop);
await hosts[Symbol.asyncDispose]();
const mcpCall = await measureMcp();

const rate = (value: number) => value.toFixed(1);
const p = (values: number[]) => `${ms(percentile(values, 0.5))} / ${ms(percentile(values, 0.99))}`;
const rows: [string, ...string[]][] = [
  ["no-op call, p50 / p99: fresh worker, warm", ...noops.fresh.map(p)],
  ["                       fresh worker, back to back", ...noops.spawned.map(p)],
  ["                       reused worker", ...noops.reused.map(p)],
  ["10 × 200 ms I/O, batch wall: fresh", ...columns.map(([, f]) => ms(f.batch))],
  ["                             reused", ...columns.map(([, f]) => ms(f.batchReused))],
  ["2 × 500 ms CPU-bound tools, wall", ...columns.map(([, f]) => ms(f.cpu))],
  [
    "3-tool turns/s (3 × 100 ms, 50 convs): fresh",
    ...columns.map(([, f]) => rate(f.turnsPerSecond)),
  ],
  [
    "                                      reused",
    ...columns.map(([, f]) => rate(f.turnsPerSecondReused)),
  ],
  [
    `fresh no-op calls/s, ${IN_FLIGHT} at a time`,
    ...[...fresh.executors, noopsPerSecond].map(rate),
  ],
];
const header = ["", ...columns.map(([name]) => name)];
const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join("   ");
console.log(`Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores\n`);
console.log(line(header));
for (const row of rows) console.log(line(row));
const added = (times: number[][]) => ms(median(times[0]) - median(times[1]));
console.log(
  `\nA warm tool host adds ${added(noops.fresh)} p50 to a no-op call in a fresh worker over ` +
    `workers in process (${added(noops.reused)} in a reused worker, ${
      added(noops.spawned)
    } when calls come back to back, faster than warm workers are refilled).`,
);
console.log(
  `Deno's own ceiling on fresh isolates here: empty Web Workers created and terminated, ` +
    `${IN_FLIGHT} at a time, ${rate(fresh.emptyInOne)}/s in one process, ` +
    `${rate(fresh.emptyOnAllCores)}/s in ${fresh.cores} processes at once.`,
);
console.log(
  `An MCP call (server-everything's echo, stdio), p50 / p99: ${
    p(mcpCall)
  }; a module tool's in a reused worker of a tool host: ${p(noops.reused[0])}.`,
);
Deno.exit(0);
