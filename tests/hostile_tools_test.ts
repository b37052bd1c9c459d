import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import type Anthropic from "@anthropic-ai/sdk";
import { HostExecutor } from "../actors/tool_host/host_executor.ts";
import { processStats } from "../actors/tool_host/_process_stats.ts";
import { ToolHost } from "../actors/tool_host/tool_host.ts";
import { DEFAULT_LIMITS } from "../src/tool_limits.ts";
import { ConfigError } from "../src/config_error.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "../src/tool_catalog.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { FIXTURE_TOOLS } from "./support/test_system.ts";
import {
  journaledServerEnv,
  peakMemory,
  processTreeStats,
  request,
  type ServerProcess,
  startServerProcess,
} from "./support/server_process.ts";

// Hostile tools against a real server process, with ordinary conversations
// beside them: the server must outlive every one of them.

const HOSTILE_TOOLS = new URL("./fixtures/hostile_tools/", import.meta.url).pathname;
/** What a hostile call may take beyond its timeout: the stop grace and the host's reply, on a 2-core machine the whole suite loads. */
const GRACE_MS = 5_000;
/** The server and its tool hosts together stay under this. */
const MEMORY_BOUND_BYTES = 2 * 1024 ** 3;

/** `ask: JSON` sends the calls in JSON; a tool result makes the model say "done". */
function scriptedModel() {
  return startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!;
    if (JSON.stringify(last.content).includes("tool_result")) return { text: "done" };
    const text = last.content as string | Anthropic.TextBlockParam[];
    const asked = typeof text === "string" ? text : text.map((block) => block.text).join("");
    // A result that came in the grace after a timeout is delivered later, as a task's.
    if (asked.startsWith("[Background task")) return { text: "noted" };
    return { toolCalls: JSON.parse(asked.replace(/^ask: /, "")) };
  });
}

interface Reply {
  status: number;
  body: { status: string; toolCalls: { name: string; status: string; ms: number }[] };
}

/** A hostile call, how long it may take, and what the model must be told. */
interface Attack {
  calls: { name: string; input: unknown }[];
  timeoutMs: number;
  says: RegExp;
  /** A cut result is not an error; everything else must be. */
  status?: "succeeded";
  /** Also hold an event stream of the conversation open that is never read. */
  stalledReader?: boolean;
}

async function converse(
  server: ServerProcess,
  calls: unknown[],
  stalledReader = false,
): Promise<{ id: string; reply: Reply }> {
  const { body } = await request(`${server.url}/v1/conversations`, "POST", {});
  if (stalledReader) {
    const stream = await fetch(`${server.url}/v1/conversations/${body.id}/events`);
    assertEquals(stream.status, 200); // and never read
  }
  const reply = await request(`${server.url}/v1/conversations/${body.id}/messages`, "POST", {
    content: `ask: ${JSON.stringify(calls)}`,
  });
  return { id: body.id, reply };
}

const ordinary = [1, 2, 3].map((i) => ({ name: "sleep", input: { ms: 200, label: `${i}` } }));

/** Resolves once the server and its hosts use under 10% of a core over a second. */
async function idleWithin(server: ServerProcess, ms: number): Promise<void> {
  const started = performance.now();
  let before = processTreeStats(server.child.pid).cpuMs;
  while (performance.now() - started < ms) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = processTreeStats(server.child.pid).cpuMs;
    if (now - before < 100) return;
    before = now;
  }
  throw new Error(`the server was still busy ${ms} ms after the hostile calls ended`);
}

/** Runs the attacks beside 20 ordinary conversations and checks that only the attacks failed. */
async function assertContained(server: ServerProcess, attacks: Attack[]): Promise<void> {
  const ordinaryRuns = Array.from({ length: 20 }, () => converse(server, ordinary));
  const hostileRuns = attacks.map((attack) => converse(server, attack.calls, attack.stalledReader));
  const peak = await peakMemory(server.child.pid, Promise.all([...ordinaryRuns, ...hostileRuns]));

  for (const { reply } of await Promise.all(ordinaryRuns)) {
    assertEquals([reply.status, reply.body.status], [200, "completed"]);
    assertEquals(reply.body.toolCalls.map((call) => call.status), [
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
  }
  for (const [i, { id, reply }] of (await Promise.all(hostileRuns)).entries()) {
    const attack = attacks[i];
    const what = JSON.stringify(attack.calls).slice(0, 120);
    assertEquals([reply.status, reply.body.status], [200, "completed"], what);
    const [call] = reply.body.toolCalls;
    assert(call.ms <= attack.timeoutMs + GRACE_MS, `${what} ended after ${call.ms} ms`);
    const { body } = await request(`${server.url}/v1/conversations/${id}`, "GET");
    const [result] = (body.history as Anthropic.MessageParam[])[2]
      .content as Anthropic.ToolResultBlockParam[];
    assertEquals(result.is_error ?? false, attack.status !== "succeeded", what);
    assertMatch(String(result.content), attack.says, what);
  }
  assert(peak < MEMORY_BOUND_BYTES, `peak memory (PSS) of the server and its hosts: ${peak} bytes`);
  await idleWithin(server, 5_000);
  assertEquals(server.child.pid > 0 && (await request(`${server.url}/healthz`, "GET")).status, 200);
}

const CUT =
  /\[Truncated by the runtime: the tool returned \d+ (bytes|characters); only the first \d+ bytes are kept\.\]$/;

Deno.test("hostile tools end as errors of their own calls; the server and 20 ordinary conversations beside them carry on", async () => {
  await using api = scriptedModel();
  await using server = await startServerProcess(await journaledServerEnv(api.url), [
    "--tools",
    HOSTILE_TOOLS,
  ]);
  const call = (name: string) => [{ name, input: {} }];
  await assertContained(server, [
    { calls: call("post_undefined"), timeoutMs: 10_000, says: /does not understand/ },
    {
      calls: call("kill_server"),
      timeoutMs: 10_000,
      says: /own process is not allowed.*run access/,
    },
    { calls: call("memory_bomb"), timeoutMs: 20_000, says: /ran out of memory/ },
    { calls: call("cpu_spin"), timeoutMs: 500, says: /timed out after 500 ms/ },
    {
      calls: call("progress_flood"),
      timeoutMs: 3_000,
      says: /timed out after 3000 ms/,
      stalledReader: true,
    },
    { calls: call("huge_result"), timeoutMs: 10_000, says: CUT, status: "succeeded" },
    { calls: call("exit_process"), timeoutMs: 10_000, says: /Deno\.exit\(\) is not allowed/ },
  ]);
});

Deno.test("the same attacks as model-written code through run_javascript are contained", async () => {
  await using api = scriptedModel();
  await using server = await startServerProcess(await journaledServerEnv(api.url));
  const js = (code: string, says: RegExp, extra: Partial<Attack> = {}): Attack => ({
    calls: [{ name: "run_javascript", input: { code } }],
    timeoutMs: 5_000,
    says,
    ...extra,
  });
  await assertContained(server, [
    js("self.postMessage(undefined); await new Promise(() => {});", /does not understand/),
    js('Deno.kill(Deno.pid, "SIGKILL");', /own process is not allowed/),
    js('Deno.kill(Deno.ppid, "SIGKILL");', /Requires run access/),
    js("Deno.kill(0, 'SIGKILL');", /Requires run access/),
    // On a busy machine the heap may fill only after the timeout: either ends the call.
    js(
      "const a = []; while (true) a.push('x'.repeat(1e7) + Math.random());",
      /ran out of memory|timed out after 5000 ms/,
    ),
    js("while (true) {}", /timed out after 5000 ms/),
    js("Deno.exit(1);", /Deno\.exit\(\) is not allowed/),
    js("self.close();", /self\.close\(\) is not allowed/),
    js("return { big: 'x'.repeat(2e7) };", CUT, { status: "succeeded" }),
    js("await import('file:///etc/passwd');", /Requires read access to "\/etc\/passwd"/),
    js("await Deno.openKv();", /without a path is not allowed/),
    js("await caches.open('x');", /caches is not defined/),
    js("new Worker('data:text/javascript,');", /Worker is not defined/),
    js("Deno.chdir('/');", /Deno\.chdir\(\) is not allowed/),
    js(
      "for (let i = 0; i < 1e4; i++) console.log('x'.repeat(1000)); return 'logged';",
      /"result":"logged"/,
      { status: "succeeded" },
    ),
  ]);
});

Deno.test("tool modules that attack as they load are refused, each with its reason, and the runtime loading them lives on", async () => {
  await using executor = new HostExecutor();
  const error: ConfigError = await assertRejects(
    () => ToolCatalog.load([new URL("./fixtures/hostile_loading/", import.meta.url)], executor),
    ConfigError,
  );
  const lines = error.message.split("\n").slice(1).map((line) => line.trim());
  const about = (file: string) =>
    lines.find((line) => line.includes(`/${file}:`)) ?? `(no line for ${file})`;
  assertStringIncludes(
    about("memory_bomb.ts"),
    "loading it ran out of memory (the limit is 256 MiB)",
  );
  assertStringIncludes(about("kill_process.ts"), "NotCapable");
  assertStringIncludes(about("exit_process.ts"), "NotCapable");
  assertEquals(lines.length, 3);
  // This process loaded them, through its hosts, and is still here to load more.
  assertEquals((await ToolCatalog.load([BUILTIN_TOOLS_DIR], executor)).names.length, 5);
});

Deno.test("a tool host that stops answering cannot hold a call past its deadline, and is stopped after it", async () => {
  const host = await ToolHost.start({
    permissions: {},
    memoryMb: DEFAULT_LIMITS.memoryMb,
    moduleDirs: [FIXTURE_TOOLS.pathname],
  });
  try {
    Deno.kill(host.pid, "SIGSTOP"); // as a host whose thread is stalled, or wedged for good
    const outcome = await host.run({
      name: "sleep",
      moduleUrl: new URL("sleep.ts", FIXTURE_TOOLS).href,
      permissions: {},
      limits: DEFAULT_LIMITS,
      callId: "toolu_stalled",
      input: { ms: 10, label: "never" },
      timeoutMs: 300,
    });
    assertEquals(
      [outcome.status, outcome.content],
      ["timed_out", "The tool timed out after 300 ms and was stopped."],
    );
    // Retired by the timeout, then killed: nothing of it is left.
    await deadline(host.exited, 10_000);
    assertEquals(processStats(host.pid), undefined, `the host ${host.pid} is still there`);
  } finally {
    host.kill("the test ended");
    await host.exited;
  }
});
