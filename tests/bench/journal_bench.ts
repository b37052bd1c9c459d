/**
 * The journal with many stored conversations: how long the server takes to
 * start and how much memory it holds, with an empty journal and with 10,000
 * conversations in it, side by side; and what reading one back costs.
 *
 * @module
 */
import { KvJournal } from "../../src/journal/kv_journal.ts";
import type { JournalRecord } from "../../src/journal/records.ts";

const CONVERSATIONS = 10_000;
const SERVE = new URL("../../src/http/serve.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir();

/** A finished conversation: a question, one tool call, its result, an answer. */
function records(i: number): JournalRecord[] {
  const callId = `toolu_${i}`;
  return [
    {
      type: "turn_started",
      turn: 1,
      cause: { type: "user_message", messageId: `m${i}`, text: `Question ${i}?` },
      at: Date.now(),
    },
    {
      type: "assistant",
      content: [
        {
          type: "tool_use",
          id: callId,
          name: "current_time",
          input: {},
          caller: undefined,
        } as never,
      ],
      stopReason: "tool_use",
    },
    { type: "call", callId, state: "running", attempts: 1 },
    {
      type: "call",
      callId,
      state: "succeeded",
      reported: { content: "x".repeat(200), isError: false },
      ms: 20,
    },
    {
      type: "assistant",
      content: [{ type: "text", text: `Answer ${i}.`, citations: null }],
      stopReason: "end_turn",
    },
    { type: "turn_ended", status: "completed", stopReason: "end_turn", text: `Answer ${i}.` },
  ];
}

async function fill(path: string, count: number): Promise<string[]> {
  const journal = await KvJournal.open(path);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = crypto.randomUUID();
    await journal.create(id, { type: "created", modelName: "bench", at: Date.now() });
    await journal.append(id, 0, records(i));
    ids.push(id);
  }
  journal.close();
  return ids;
}

/** Starts the server on `path`; resolves with start-up time and RSS once it listens. */
async function startServer(path: string, probeId?: string) {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", SERVE],
    env: { AGENT_DATA: path, PORT: "0", PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  while (!/Listening on (\S+)\//.test(log)) log += (await reader.read()).value ?? "";
  const startMs = performance.now() - started;
  const url = /Listening on (\S+)\//.exec(log)![1];
  const rssMb = await rssOf(child.pid);
  let readMs = 0;
  if (probeId) {
    const before = performance.now();
    await (await fetch(`${url}/v1/conversations/${probeId}`)).json();
    readMs = performance.now() - before;
  }
  child.kill("SIGTERM");
  await child.status;
  await reader.cancel().catch(() => {});
  return { startMs, rssMb, readMs };
}

async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

const emptyPath = `${dir}/empty.kv`;
const fullPath = `${dir}/full.kv`;
await fill(emptyPath, 0);
const fillStart = performance.now();
const ids = await fill(fullPath, CONVERSATIONS);
const fillMs = performance.now() - fillStart;
const fileMb = (await Deno.stat(fullPath)).size / 1024 / 1024;

type Run = Awaited<ReturnType<typeof startServer>>;
const runs: { empty: Run[]; full: Run[] } = { empty: [], full: [] };
for (let i = 0; i < 5; i++) {
  runs.empty.push(await startServer(emptyPath));
  runs.full.push(await startServer(fullPath, ids[Math.floor(Math.random() * ids.length)]));
}

// One conversation read back and rebuilt, in process.
const journal = await KvJournal.open(fullPath);
const loads: number[] = [];
for (let i = 0; i < 500; i++) {
  const before = performance.now();
  await journal.load(ids[Math.floor(Math.random() * ids.length)]);
  loads.push(performance.now() - before);
}
const scanStart = performance.now();
await journal.unfinished();
const scanMs = performance.now() - scanStart;
journal.close();

const ms = (value: number) => `${value.toFixed(1)} ms`;
const mb = (value: number) => `${value.toFixed(1)} MB`;
const pick = (key: "startMs" | "rssMb" | "readMs", which: keyof typeof runs) =>
  median(runs[which].map((run) => run[key]));
const rows: [string, string, string][] = [
  [
    "server start → listening (median of 5)",
    ms(pick("startMs", "empty")),
    ms(pick("startMs", "full")),
  ],
  [
    "server RSS once listening (median of 5)",
    mb(pick("rssMb", "empty")),
    mb(pick("rssMb", "full")),
  ],
  ["recovery scan at start (open turns, inboxes)", "—", ms(scanMs)],
  ["GET one conversation, first read (median of 5)", "—", ms(pick("readMs", "full"))],
  [
    "load + rebuild one conversation in process, p50 / p99",
    "—",
    `${ms(median(loads))} / ${ms(loads.sort((a, b) => a - b)[Math.floor(loads.length * 0.99)])}`,
  ],
];
const header: [string, string, string] = [
  "",
  "empty journal",
  `${CONVERSATIONS.toLocaleString("en")} conversations`,
];
const widths = [0, 1, 2].map((i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join("   ");
console.log(
  `\nJournal: ${CONVERSATIONS.toLocaleString("en")} conversations of 7 records, ${
    mb(fileMb)
  } on disk, written in ${(fillMs / 1000).toFixed(1)} s\n`,
);
console.log(line(header));
for (const row of rows) console.log(line(row));
await Deno.remove(dir, { recursive: true });
