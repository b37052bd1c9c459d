import { assertEquals, assertMatch } from "@std/assert";
import type { ToolCallOutcome, ToolCallRequest, ToolExecutor } from "../actors/tool_executor.ts";
import { HostExecutor } from "../actors/tool_host/host_executor.ts";
import { WorkerExecutor } from "../actors/tool_worker/worker_executor.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../src/tool_limits.ts";
import { FIXTURE_TOOLS, testCatalog } from "./support/test_system.ts";

type Call = (
  name: string,
  input: unknown,
  extra?: Partial<ToolCallRequest>,
) => Promise<ToolCallOutcome>;

const EXECUTORS: [string, () => ToolExecutor][] = [
  ["tool hosts", () => new HostExecutor()],
  ["in-process workers", () => new WorkerExecutor()],
];

/** Defines the test once per executor: both isolations keep the same contract. */
function test(name: string, body: (call: Call) => Promise<void>) {
  for (const [label, make] of EXECUTORS) {
    Deno.test(`${label}: ${name}`, async () => {
      await using executor = make();
      await body(async (tool, input, extra = {}) => {
        const found = (await testCatalog()).get(tool)!;
        return executor.run({
          name: tool,
          moduleUrl: found.moduleUrl,
          permissions: found.permissions,
          limits: resolveLimits(found.limits, DEFAULT_LIMITS),
          callId: "toolu_test",
          input,
          timeoutMs: found.timeoutMs ?? 10_000,
          ...extra,
        });
      });
    });
  }
}

test("a tool's return value comes back as text, or as JSON for other values", async (call) => {
  const text = await call("shout", { text: "hi" });
  assertEquals([text.status, text.content], ["succeeded", "HI"]);
  const json = await call("sleep", { ms: 1, label: "x" });
  assertEquals(json.status, "succeeded");
  assertEquals(JSON.parse(json.content).label, "x");
});

test("a throwing tool gives an error outcome with the error's message", async (call) => {
  const outcome = await call("fail", { reason: "because" });
  assertEquals(outcome, { ...outcome, status: "failed", content: "failed on purpose: because" });
});

test("a zod-typed tool rejects input that fails its schema, naming the field", async (call) => {
  const outcome = await call("shout", { text: "be quiet" });
  assertEquals(outcome.status, "failed");
  assertEquals(outcome.content, "Invalid input: text: must not say quiet");
});

test("a call past its timeout is stopped, and its signal is aborted", async (call) => {
  const late = Promise.withResolvers<string>();
  const outcome = await call("notice_abort", {}, {
    timeoutMs: 150,
    stopGraceMs: 10_000, // room for a busy machine: the late result must arrive
    onLateResult: (result) => late.resolve(result.content),
  });
  assertEquals(outcome.status, "timed_out");
  assertEquals(outcome.content, "The tool timed out after 150 ms and was stopped.");
  // What the tool answered once its signal fired, in the grace before it was terminated.
  assertEquals(await late.promise, "aborted: TimeoutError");
});

test("tools run with no permissions unless declared", async (call) => {
  const env = await call("read_secret", {});
  assertEquals(env.status, "failed");
  assertMatch(env.content, /^NotCapable: Requires env access to "ANTHROPIC_API_KEY"/);
  const read = await call("read_hosts", {});
  assertEquals(read.status, "failed");
  // The fix is the tool's own declaration, not a flag of the whole program.
  assertEquals(
    read.content,
    'NotCapable: Requires read access to "/etc/hosts". The tool does not declare this permission: add it to the tool\'s `permissions` (for example `permissions: { read: ["…"] }`).',
  );
});

test("a declared net permission is narrowed to its hosts", async (call) => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("pong"),
  );
  const allowed = await call("fetch_local", { url: `http://127.0.0.1:${server.addr.port}/` });
  assertEquals([allowed.status, allowed.content], ["succeeded", "pong"]);
  const denied = await call("fetch_local", { url: `http://localhost:${server.addr.port}/` });
  assertEquals(denied.status, "failed");
  assertMatch(denied.content, /Requires net access to "localhost:\d+"/);
});

test("progress reports reach the caller while the tool runs", async (call) => {
  const progress: string[] = [];
  const outcome = await call("sleep", { ms: 5 }, { onProgress: (text) => progress.push(text) });
  assertEquals(outcome.status, "succeeded");
  assertEquals(progress, ["sleeping 5 ms"]);
});

test("aborting the signal cancels a running call, and the tool's signal says so", async (call) => {
  const controller = new AbortController();
  const late = Promise.withResolvers<string>();
  const outcome = await call("notice_abort", {}, {
    signal: controller.signal,
    timeoutMs: 10_000,
    // Room for a busy machine to run the tool's abort handler: its late result must arrive.
    stopGraceMs: 10_000,
    onProgress: () => controller.abort(), // the tool is running
    onLateResult: (result) => late.resolve(result.content),
  });
  assertEquals(outcome.status, "cancelled");
  assertEquals(await late.promise, "aborted: AbortError");
});

test("a module that fails to load gives an error outcome, not a crash", async (call) => {
  const outcome = await call("shout", {}, {
    moduleUrl: new URL("missing_tool.ts", FIXTURE_TOOLS).href,
  });
  assertEquals(outcome.status, "failed");
  assertMatch(outcome.content, /^The tool crashed: .*missing_tool\.ts/);
});

test("fetch_url refuses loopback and private addresses unless the operator allows them", async (call) => {
  let reached = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    reached++;
    return new URL(req.url).pathname === "/away"
      ? Response.redirect("http://10.0.0.1/admin", 302)
      : new Response("local page");
  });
  const local = `http://127.0.0.1:${server.addr.port}`;
  for (const url of [`${local}/`, `http://localhost:${server.addr.port}/`, "http://[::1]:9/"]) {
    const refused = await call("fetch_url", { url });
    assertEquals(refused.status, "failed", url);
    assertMatch(refused.content, /^refused to fetch .*: .* is an internal address/);
    assertMatch(refused.content, /AGENT_FETCH_ALLOW/);
  }
  assertEquals(reached, 0, "no request reached the local server");
});

test("fetch_url fetches an internal address the operator allows, but not where it redirects", async (call) => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/away"
        ? Response.redirect("http://10.0.0.1/admin", 302)
        : new Response("local page"),
  );
  const local = `http://127.0.0.1:${server.addr.port}`;
  // Set before the first call: a tool host gets its environment when it starts.
  Deno.env.set("AGENT_FETCH_ALLOW", "127.0.0.1");
  try {
    const allowed = await call("fetch_url", { url: `${local}/` });
    assertEquals([allowed.status, JSON.parse(allowed.content).body], ["succeeded", "local page"]);
    // The allowed host redirects into the private network: refused before connecting there.
    const redirected = await call("fetch_url", { url: `${local}/away` });
    assertEquals(redirected.status, "failed");
    assertMatch(
      redirected.content,
      /^refused to fetch http:\/\/10\.0\.0\.1: 10\.0\.0\.1 is an internal/,
    );
  } finally {
    Deno.env.delete("AGENT_FETCH_ALLOW");
  }
});

test("a worker is reused only for calls with the same reuse key, and keeps its module state", async (call) => {
  const count = async (key?: string) =>
    (await call("counter", {}, { reuse: key ? { key, concurrency: 1 } : undefined })).content;
  assertEquals([await count(), await count()], ["1", "1"], "no key: a fresh worker each time");
  assertEquals([await count("a"), await count("a"), await count("a")], ["1", "2", "3"]);
  assertEquals(await count("b"), "1", "another key never gets a's worker");
  assertEquals(await count("a"), "4");
});

test("a call's timeout counts from when its worker begins it, not while the worker loads", async (call) => {
  const outcome = await call("slow_load", {}, { timeoutMs: 100 });
  assertEquals([outcome.status, outcome.content], ["succeeded", "loaded"]);
});

test("a reused worker is retired after a failure", async (call) => {
  assertEquals((await call("counter", {}, { reuse: { key: "a", concurrency: 1 } })).content, "1");
  const failed = await call("counter", { fail: true }, { reuse: { key: "a", concurrency: 1 } });
  assertEquals([failed.status, failed.content], ["failed", "failed on call 2"]);
  assertEquals((await call("counter", {}, { reuse: { key: "a", concurrency: 1 } })).content, "1");
});

test("a reused worker is retired after a timeout", async (call) => {
  assertEquals((await call("counter", {}, { reuse: { key: "a", concurrency: 1 } })).content, "1");
  const slow = await call("counter", { wait: true }, {
    reuse: { key: "a", concurrency: 1 },
    timeoutMs: 200,
  });
  assertEquals(slow.status, "timed_out");
  assertEquals((await call("counter", {}, { reuse: { key: "a", concurrency: 1 } })).content, "1");
});

test("a tool with concurrency runs that many calls at once in one worker, and no more", async (call) => {
  const reuse = { key: "*", concurrency: 3 };
  const outcomes = await Promise.all(
    Array.from({ length: 4 }, () => call("gather", { ms: 300 }, { reuse })),
  );
  const answers = outcomes.map((outcome) => JSON.parse(outcome.content));
  const workers = new Set(answers.map((answer) => answer.worker));
  assertEquals(workers.size, 2, "three calls share a worker; the fourth needs another");
  assertEquals(Math.max(...answers.map((answer) => answer.most)), 3);
});
