/**
 * `deno task serve` in a process of its own, as a user runs it: for tests
 * that kill it, restart it, or run two of them on one journal.
 *
 * @module
 */
import { delay } from "@std/async/delay";
import { assertNoOrphans, FIXTURE_TOOLS } from "./test_system.ts";
import { KvJournal } from "../../src/journal/kv_journal.ts";
import { processStats } from "../../actors/tool_host/_process_stats.ts";

const SERVE = new URL("../../src/http/serve.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** A running server process. */
export interface ServerProcess extends AsyncDisposable {
  url: string;
  child: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  log(): string;
}

/**
 * Starts the server on a free loopback port with the fixture tools (unless
 * `fixtures` is false), and resolves once it listens. Disposing it kills it.
 */
export async function startServerProcess(
  env: Record<string, string>,
  args: string[] = [],
  { openFiles, fixtures = true, cwd }: {
    openFiles?: number;
    fixtures?: boolean;
    /** Its working folder (default: the tests'), e.g. a folder of its own that no other shares. */
    cwd?: string;
  } = {},
): Promise<ServerProcess> {
  const serve = [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-check",
    // The runtime's own configuration, wherever the server's working folder is.
    `--config=${CONFIG}`,
    SERVE,
    ...(fixtures ? ["--tools", FIXTURE_TOOLS.pathname] : []),
    ...args,
  ];
  // With a limit on open files, as a server may be run: through the shell's ulimit.
  const [command, ...commandArgs] = openFiles
    ? ["bash", "-c", `ulimit -n ${openFiles} && exec "$@"`, "bash", ...serve]
    : serve;
  const child = new Deno.Command(command, {
    args: commandArgs,
    cwd,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", PORT: "0", ...env },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const listening = Promise.withResolvers<string>();
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      const url = /Listening on (http:\/\/[^/\s]+)\//.exec(log)?.[1];
      if (url) listening.resolve(url);
    }
    listening.reject(new Error(`the server exited before listening:\n${log}`));
  })();
  const url = await listening.promise;
  return {
    url,
    child,
    log: () => log,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* it has exited already */ }
      await child.status;
      await auditJournalFile(env.AGENT_DATA);
    },
  };
}

/** Fails if the journal file at `path` (when there is one) holds chunks that no value owns. */
async function auditJournalFile(path: string | undefined): Promise<void> {
  if (!path || path === ":memory:" || !(await Deno.stat(path).catch(() => undefined))) return;
  await using journal = await KvJournal.open(path).catch(() => undefined);
  if (journal) assertNoOrphans(await journal.orphans());
}

/** Sends JSON to the server and returns the status and parsed body. */
export async function request(
  url: string,
  method: string,
  body?: unknown,
  // deno-lint-ignore no-explicit-any -- a test reads whatever JSON the API answered
): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The environment of a server on a fresh journal file, talking to the fake model at `apiUrl`. */
export async function journaledServerEnv(
  apiUrl: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: apiUrl,
    AGENT_DATA: `${await Deno.makeTempDir()}/journal.kv`,
    ...extra,
  };
}

/** Polls until `check` returns a value, for at most `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = await check();
    if (value !== undefined) return value;
    await delay(50);
  }
  throw new Error(`not within ${ms} ms`);
}

/** Polls `GET /v1/conversations/:id` until `ready` holds for its body, and resolves with it. */
export function conversationWhen(
  url: string,
  id: string,
  // deno-lint-ignore no-explicit-any -- the API's JSON
  ready: (body: any) => boolean,
  ms?: number,
  // deno-lint-ignore no-explicit-any -- the API's JSON
): Promise<any> {
  return eventually(async () => {
    const { body } = await request(`${url}/v1/conversations/${id}`, "GET");
    return ready(body) ? body : undefined;
  }, ms);
}

/** Posts a message without waiting for its turn (the server may die under it). */
export function sendWithoutWaiting(url: string, id: string, content: string): void {
  fetch(`${url}/v1/conversations/${id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ content }),
  }).then((response) => response.body?.cancel(), () => {});
}

/** When the server process `pid` last sent its heartbeat to the journal (epoch ms). */
export async function lastHeartbeat(journalPath: string, pid: number, ttlMs: number) {
  using kv = await Deno.openKv(journalPath);
  const beats = kv.list<{ until: number; pid: number }>({ prefix: ["node"] });
  for await (const beat of beats) if (beat.value.pid === pid) return beat.value.until - ttlMs;
  throw new Error(`process ${pid} has no heartbeat in the journal`);
}

/**
 * Starts `count` conversations whose turn is running a 60 s `sleep` call, and
 * resolves with their ids once every call has started.
 */
export async function conversationsMidCall(url: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = (await request(`${url}/v1/conversations`, "POST", {})).body.id;
    sendWithoutWaiting(url, id, `sleep please ${i}`);
    ids.push(id);
  }
  for (const id of ids) {
    await conversationWhen(url, id, (body) => body.status.callsInFlight.length === 1);
  }
  return ids;
}

/** Resolves with the epoch ms at which each conversation's last answer contained `text`. */
export function finishTimes(url: string, ids: string[], text: string): Promise<number[]> {
  return Promise.all(ids.map(async (id) => {
    await conversationWhen(
      url,
      id,
      (body) => body.status.state === "idle" && JSON.stringify(body.history.at(-1)).includes(text),
      60_000,
    );
    return Date.now();
  }));
}

/** A model for takeover tests: every turn runs a 60 s `sleep`, then answers `text` once it is settled. */
export function sleepThenAnswer(text: string) {
  return (request: { body: { messages: { content: unknown }[] } }) =>
    JSON.stringify(request.body.messages.at(-1)!.content).includes("tool_result")
      ? { text }
      : { toolCalls: [{ name: "sleep", input: { ms: 60_000 } }] };
}

/**
 * Starts a server on `env` (default TTL), puts `count` conversations
 * mid-call and kills it with SIGKILL; resolves with their ids and when the
 * dead server last sent its heartbeat.
 */
export async function crashMidCall(env: Record<string, string>, count: number) {
  await using crashed = await startServerProcess(env);
  const ids = await conversationsMidCall(crashed.url, count);
  crashed.child.kill("SIGKILL");
  await crashed.child.status;
  return { ids, lastBeat: await lastHeartbeat(env.AGENT_DATA, crashed.child.pid, 10_000) };
}

/**
 * Memory and CPU time of a process and its children (its tool hosts),
 * summed. Memory is proportional (PSS): pages the processes share, such as
 * the deno binary's, count once, as they do in the machine's memory.
 */
export function processTreeStats(pid: number): { memoryBytes: number; cpuMs: number } {
  return processTree(pid).reduce(
    (sum, { pid, stats }) => ({
      memoryBytes: sum.memoryBytes + proportionalBytes(pid),
      cpuMs: sum.cpuMs + (stats?.cpuMs ?? 0),
    }),
    { memoryBytes: 0, cpuMs: 0 },
  );
}

/**
 * Samples the memory (PSS) of `pid` and its children every 100 ms until
 * `done` settles; resolves with the peak, or rejects as `done` does. The
 * files are read asynchronously: the kernel's walk of a large process's
 * pages takes milliseconds, and `pid` is often this very process, whose
 * event loop must not stall for the measurement.
 */
export async function peakMemory(pid: number, done: Promise<unknown>): Promise<number> {
  let peak = await treeMemory(pid);
  let finished = false;
  const settled = () => finished = true;
  done.then(settled, settled);
  while (!finished) {
    await delay(100);
    peak = Math.max(peak, await treeMemory(pid));
  }
  await done;
  return peak;
}

/** `pid` and its children, with their stats. */
function processTree(pid: number) {
  return [...Deno.readDirSync("/proc")]
    .filter((entry) => /^\d+$/.test(entry.name))
    .map((entry) => ({ pid: Number(entry.name), stats: processStats(Number(entry.name)) }))
    .filter(({ pid: each, stats }) => each === pid || stats?.parentPid === pid);
}

/** The PSS of `pid` and its children. */
async function treeMemory(pid: number): Promise<number> {
  const sizes = await Promise.all(
    processTree(pid).map(({ pid }) =>
      Deno.readTextFile(`/proc/${pid}/smaps_rollup`).then(pssOf, () => 0)
    ),
  );
  return sizes.reduce((sum, bytes) => sum + bytes, 0);
}

function proportionalBytes(pid: number): number {
  try {
    return pssOf(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`));
  } catch {
    return 0; // gone
  }
}

/** The PSS in bytes of a `/proc/PID/smaps_rollup`'s text; 0 for none (the process is gone). */
function pssOf(rollup: string): number {
  return Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
}
