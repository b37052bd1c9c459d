/**
 * `deno task bench`, the journal on PostgreSQL beside Deno KV, in one run,
 * on a throw-away PostgreSQL cluster this bench starts (Debian's, on
 * loopback, `fsync` on as in use):
 *
 * - journal operations a second: 50 clients at once, each living through
 *   conversations (create one, append a turn of six records, read it back);
 * - W2 with reused workers: the turns a second of one server (the runtime
 *   in process, 50 conversations, 3 calls of 100 ms a turn) on each journal;
 * - three servers on one PostgreSQL, the 50 conversations spread over them,
 *   against one server alone: the turns a second of the three together,
 *   and the CPU each turn costs;
 * - 1,000 conversations × 3 calls at once, spread over three servers: the
 *   wall time, the results returned, and the model requests made (two a
 *   turn: a turn run twice would make more);
 * - a `kill -9` of the server driving a turn: how long until another server
 *   has finished it, with the default TTL.
 *
 * `deno run -A --lock=tests/bench/deno.lock tests/bench/postgres_bench.ts`
 *
 * @module
 */
import { KvJournal } from "../../src/journal/kv_journal.ts";
import type { Journal } from "../../src/journal/journal.ts";
import { PgJournal } from "../../src/journal/pg_journal.ts";
import type { JournalRecord } from "../../src/journal/records.ts";
import { startFakeMessagesApi } from "../support/fake_messages_api.ts";
import { processTreeStats, request, startServerProcess } from "../support/server_process.ts";
import { startTestPostgres } from "../support/postgres.ts";
import { benchReplies } from "./_turn_drivers.ts";

const CLIENTS = 50;
const SECONDS = 5;
const W2_REUSED = "wait_reused 3 100";
const TOOLS_DIR = new URL("./tools/", import.meta.url).pathname;
const TURNS_BENCH = new URL("./turns_bench.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;

await using pg = await startTestPostgres({ durable: true });
let modelRequests = 0;
await using api = startFakeMessagesApi((request) => {
  modelRequests++;
  return benchReplies(request);
});
const forget = setInterval(() => api.requests.length = 0, 500);

const kvFile = () => Deno.makeTempDir().then((dir) => `${dir}/journal.kv`);
const journalOps = {
  kv: await opsPerSecond(await KvJournal.open(await kvFile())),
  pg: await opsPerSecond(await PgJournal.open(await pg.database())),
};
// W2's rate swings with the machine's other load: three rounds, the journals in turn, the medians.
const rounds: { kv: number; pg: number }[] = [];
for (let round = 0; round < 3; round++) {
  rounds.push({ kv: await w2Reused(await kvFile()), pg: await w2Reused(await pg.database()) });
}
const median = (values: number[]) => values.toSorted((a, b) => a - b)[1];
const w2 = { kv: median(rounds.map((r) => r.kv)), pg: median(rounds.map((r) => r.pg)) };
const cluster = {
  one: await spreadTurns(await pg.database(), 1),
  three: await spreadTurns(await pg.database(), 3),
};
const crowd = await crowdOverThree(await pg.database());
const takeoverMs = await takeover(await pg.database());
clearInterval(forget);

const rows: string[][] = [
  ["", "Deno KV (file)", "PostgreSQL", "PostgreSQL ÷ KV"],
  ["journal operations/s (50 clients)", ...compare(journalOps.kv, journalOps.pg)],
  ["W2 reused, turns/s (one server, in process; median of 3)", ...compare(w2.kv, w2.pg)],
  [],
  ["", "one server", "three servers", "three ÷ one"],
  ["W2 reused over HTTP, turns/s", ...compare(cluster.one.rate, cluster.three.rate)],
  [
    "CPU per turn (servers and their tool hosts)",
    `${cluster.one.cpuMsPerTurn.toFixed(1)} ms`,
    `${cluster.three.cpuMsPerTurn.toFixed(1)} ms`,
    "",
  ],
  [],
  ["1,000 conversations × 3 calls at once, over three servers", "", "", ""],
  ["  wall", `${(crowd.ms / 1000).toFixed(1)} s`, "", ""],
  ["  results returned (of 3,000)", String(crowd.results), "", ""],
  ["  model requests (2 a turn: 2,000 if none ran twice)", String(crowd.requests), "", ""],
  [
    "kill -9 of the driving server → its turn finished elsewhere (TTL 10 s)",
    `${(takeoverMs / 1000).toFixed(1)} s`,
    "",
    "",
  ],
];
const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((cells) => cells[i]?.length ?? 0)));
console.log(
  `\nThe journal on PostgreSQL (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores)\n`,
);
for (const cells of rows) console.log(cells.map((cell, i) => cell.padEnd(widths[i])).join("   "));

function compare(ours: number, theirs: number): string[] {
  return [ours.toFixed(1), theirs.toFixed(1), `${(theirs / ours).toFixed(2)}×`];
}

/** A finished turn: a question, one call, its result, an answer. */
function turn(i: number): JournalRecord[] {
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
      content: [{ type: "tool_use", id: callId, name: "wait", input: {} } as never],
      stopReason: "tool_use",
    },
    { type: "call", callId, state: "running", attempts: 1 },
    { type: "call", callId, state: "succeeded", reported: { content: "ok", isError: false } },
    {
      type: "assistant",
      content: [{ type: "text", text: `Answer ${i}.`, citations: null }],
      stopReason: "end_turn",
    },
    { type: "turn_ended", status: "completed", stopReason: "end_turn", text: `Answer ${i}.` },
  ];
}

/** Operations a second (each conversation: create, append, load) of 50 clients at once. */
async function opsPerSecond(journal: Journal): Promise<number> {
  await using _ = journal;
  let operations = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
    for (let i = 0; performance.now() < until; i++) {
      const id = crypto.randomUUID();
      await journal.create(id, { type: "created", modelName: "bench", at: Date.now() });
      await journal.append(id, 0, turn(client * 1_000_000 + i));
      await journal.load(id);
      operations += 3;
    }
  }));
  return operations / ((performance.now() - started) / 1000);
}

/** The turns bench's W2 with reused workers, in a process of its own, on the journal at `data`. */
async function w2Reused(data: string): Promise<number> {
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `--lock=${LOCK}`, TURNS_BENCH, "this runtime", "w2Reused"],
    env: { BENCH_API_URL: api.url, BENCH_AGENT_DATA: data },
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(child.stdout).trim().split("\n");
  if (!child.success) throw new Error(`W2 on ${data} failed: ${lines.join("\n")}`);
  return JSON.parse(lines.at(-1)!).w2Reused;
}

/**
 * W2 with reused workers over HTTP, its 50 conversations spread over
 * `count` servers on one database: turns a second, and CPU per turn.
 */
async function spreadTurns(database: string, count: number) {
  const servers = await startCluster(database, count);
  try {
    const converse = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      const { url } = servers[i % count];
      const { body } = await request(`${url}/v1/conversations`, "POST", { tools: ["wait_reused"] });
      return () =>
        request(`${url}/v1/conversations/${body.id}/messages`, "POST", { content: W2_REUSED });
    }));
    await Promise.all(converse.map((send) => send())); // hosts and pools warm
    const cpuBefore = cpuMs(servers.map((server) => server.child.pid));
    let turns = 0;
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(converse.map(async (send) => {
      while (performance.now() < until) {
        const { body } = await send();
        if (body.status !== "completed") throw new Error(`a turn failed: ${JSON.stringify(body)}`);
        turns++;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuMs(servers.map((server) => server.child.pid)) - cpuBefore;
    return { rate: turns / seconds, cpuMsPerTurn: cpu / turns };
  } finally {
    for (const server of servers) await server[Symbol.asyncDispose]();
  }
}

/** Three servers on one database, with room in their queues for every call of the crowd. */
function startCluster(database: string, count: number, extra: Record<string, string> = {}) {
  const env = {
    ANTHROPIC_API_KEY: "bench",
    ANTHROPIC_BASE_URL: api.url,
    AGENT_DATA: database,
    AGENT_MODEL: "claude-bench",
    ...extra,
  };
  return Promise.all(
    Array.from(
      { length: count },
      () => startServerProcess(env, ["--tools", TOOLS_DIR], { fixtures: false }),
    ),
  );
}

/** 1,000 conversations, one 3-call turn each, all at once, spread over three servers. */
async function crowdOverThree(database: string) {
  const servers = await startCluster(database, 3, { AGENT_MAX_QUEUED_CALLS: "100000" });
  try {
    const messages = await Promise.all(Array.from({ length: 1_000 }, async (_, i) => {
      const { url } = servers[i % 3];
      const { body } = await request(`${url}/v1/conversations`, "POST", { tools: ["wait_reused"] });
      return `${url}/v1/conversations/${body.id}/messages`;
    }));
    const requestsBefore = modelRequests;
    const started = performance.now();
    const turns = await Promise.all(
      messages.map((url) => request(url, "POST", { content: W2_REUSED })),
    );
    const ms = performance.now() - started;
    const results = turns.reduce(
      (sum, { body }) =>
        sum +
        (body.toolCalls ?? []).filter((c: { status: string }) => c.status === "succeeded").length,
      0,
    );
    return { ms, results, requests: modelRequests - requestsBefore };
  } finally {
    for (const server of servers) await server[Symbol.asyncDispose]();
  }
}

/**
 * Two servers with the default TTL; the one driving a turn (a 30 s call)
 * is killed: how long until the other has finished that turn.
 */
async function takeover(database: string): Promise<number> {
  const [driver, other] = await startCluster(database, 2);
  try {
    const { body } = await request(`${driver.url}/v1/conversations`, "POST", {
      tools: ["wait_reused"],
    });
    const conversation = `${other.url}/v1/conversations/${body.id}`;
    const sent = request(`${driver.url}/v1/conversations/${body.id}/messages`, "POST", {
      content: "wait_reused 1 30000",
    }).catch(() => {});
    while ((await request(conversation, "GET")).body.status.callsInFlight.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const killed = performance.now();
    driver.child.kill("SIGKILL");
    await sent;
    while ((await request(conversation, "GET")).body.status.state !== "idle") {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return performance.now() - killed;
  } finally {
    await driver[Symbol.asyncDispose]();
    await other[Symbol.asyncDispose]();
  }
}

/** CPU time so far of the servers `pids` and their tool hosts. */
function cpuMs(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processTreeStats(pid).cpuMs, 0);
}
