/**
 * `deno task bench`: the tool-worker runtime against the in-process
 * baseline (a plain `Promise.all` of the same tools, as the SDK's own tool
 * runner does), measured side by side in one run.
 *
 * @module
 */
import { runToolCalls } from "../../actors/supervisor/run_tool_calls.ts";
import { TaskBoard } from "../../actors/task_board.ts";
import { spawnToolCall } from "../../actors/tool_worker/spawn_tool_call.ts";
import type { Tool } from "../../src/tool.ts";
import { ToolCatalog } from "../../src/tool_catalog.ts";
import { Journal } from "../../src/journal/journal.ts";
import type { CallRecord } from "../../src/journal/records.ts";
import noop from "./tools/noop.ts";
import wait from "./tools/wait.ts";
import burn from "./tools/burn.ts";

const catalog = await ToolCatalog.load([new URL("./tools/", import.meta.url)]);
// The worker side journals every call in a real KV file, as a conversation does.
const dataDir = await Deno.makeTempDir();
const journal = await Journal.open(`${dataDir}/journal.kv`);
await journal.create("bench", { type: "created", modelName: "bench", at: Date.now() });
let seq = 0;
const context = {
  conversationId: "bench",
  catalog,
  allowed: catalog.names,
  defaultTimeoutMs: 60_000,
  turnLimitMs: 60_000,
  signal: new AbortController().signal,
  emit: () => {},
  record: async (updates: Parameters<Parameters<typeof runToolCalls>[1]["record"]>[0]) => {
    seq = (await journal.append(
      "bench",
      seq,
      updates.map((update) => ({ type: "call" as const, ...update })),
    ))!;
  },
  tasks: new TaskBoard(journal, "bench", () => {}),
  handOff: false,
};

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

async function samples(count: number, fn: () => Promise<unknown>): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push(await timed(fn));
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
        signal: context.signal,
        progress: () => {},
        handOff: () => ({ taskId: "", secret: "", resultPath: "" }),
      })),
  );

// (a) spawn + first message: the synchronous `new Worker` part, and spawn → result of a no-op call.
const noopTool = catalog.get("noop")!;
const construct: number[] = [];
const roundTrip = await samples(60, () => {
  const start = performance.now();
  const pending = spawnToolCall({
    moduleUrl: noopTool.moduleUrl,
    permissions: {},
    callId: "x",
    input: {},
    timeoutMs: 10_000,
  });
  construct.push(performance.now() - start);
  return pending;
});
construct.sort((a, b) => a - b);
const inProcessCall = await samples(60, inProcess(noop as Tool, 1, {}));

// (b) one turn's tool batch: 10 parallel 200 ms I/O-bound tools.
const median = (values: number[]) => percentile(values, 0.5);
const batchWorkers = median(
  await samples(7, () => runToolCalls(calls("wait", 10, { ms: 200 }), context)),
);
const batchInProcess = median(await samples(7, inProcess(wait as Tool, 10, { ms: 200 })));

// (c) two CPU-bound 500 ms tools.
const cpuWorkers = median(
  await samples(3, () => runToolCalls(calls("burn", 2, { ms: 500 }), context)),
);
const cpuInProcess = median(await samples(3, inProcess(burn as Tool, 2, { ms: 500 })));

const rows: [string, string, string][] = [
  [
    "(a) new Worker(), blocking the caller, p50 / p99",
    `${ms(percentile(construct, 0.5))} / ${ms(percentile(construct, 0.99))}`,
    "—",
  ],
  [
    "(a) spawn → result of a no-op call, p50 / p99",
    `${ms(percentile(roundTrip, 0.5))} / ${ms(percentile(roundTrip, 0.99))}`,
    `${ms(percentile(inProcessCall, 0.5))} / ${ms(percentile(inProcessCall, 0.99))}`,
  ],
  ["(b) 10 × 200 ms I/O tools, batch wall (median of 7)", ms(batchWorkers), ms(batchInProcess)],
  ["(b)   over the ideal 200 ms", `+${ms(batchWorkers - 200)}`, `+${ms(batchInProcess - 200)}`],
  ["(b)   over in-process Promise.all", `+${ms(batchWorkers - batchInProcess)}`, "—"],
  ["(c) 2 × 500 ms CPU-bound tools, wall (median of 3)", ms(cpuWorkers), ms(cpuInProcess)],
  ["(c)   speed-up over in-process", `${(cpuInProcess / cpuWorkers).toFixed(2)}x`, "1.00x"],
];
const widths = [0, 1, 2].map((i) =>
  Math.max(
    ...[["", "workers (ours)", "in-process"][i], ...rows.map((row) => row[i])].map((s) => s.length),
  )
);
const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join("   ");
console.log(`Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores\n`);
console.log(line(["", "workers (ours)", "in-process"]));
for (const row of rows) console.log(line(row));
console.log(
  `\n10 workers spend ~${ms(10 * percentile(construct, 0.5))} blocked in new Worker() alone, ` +
    `${
      ((10 * percentile(construct, 0.5)) / (batchWorkers - batchInProcess) * 100).toFixed(0)
    }% of the batch overhead.`,
);
Deno.exit(0);
