import { assertEquals, assertMatch } from "@std/assert";
import { spawnToolCall, type ToolCallRequest } from "../actors/tool_worker/spawn_tool_call.ts";
import { FIXTURE_TOOLS, testCatalog } from "./support/test_system.ts";

async function call(name: string, input: unknown, extra: Partial<ToolCallRequest> = {}) {
  const tool = (await testCatalog()).get(name)!;
  return spawnToolCall({
    moduleUrl: tool.moduleUrl,
    permissions: tool.permissions,
    callId: "toolu_test",
    input,
    timeoutMs: tool.timeoutMs ?? 10_000,
    ...extra,
  });
}

Deno.test("a tool's return value comes back as text, or as JSON for other values", async () => {
  const text = await call("shout", { text: "hi" });
  assertEquals([text.status, text.content], ["succeeded", "HI"]);
  const json = await call("sleep", { ms: 1, label: "x" });
  assertEquals(json.status, "succeeded");
  assertEquals(JSON.parse(json.content).label, "x");
});

Deno.test("a throwing tool gives an error outcome with the error's message", async () => {
  const outcome = await call("fail", { reason: "because" });
  assertEquals(outcome, { ...outcome, status: "failed", content: "failed on purpose: because" });
});

Deno.test("a zod-typed tool rejects input that fails its schema, naming the field", async () => {
  const outcome = await call("shout", { text: "be quiet" });
  assertEquals(outcome.status, "failed");
  assertEquals(outcome.content, "Invalid input: text: must not say quiet");
});

Deno.test("a call past its timeout is stopped, and its signal is aborted", async () => {
  const late = Promise.withResolvers<string>();
  const outcome = await call("notice_abort", {}, {
    timeoutMs: 150,
    onLateResult: (result) => late.resolve(result.content),
  });
  assertEquals(outcome.status, "timed_out");
  assertEquals(outcome.content, "The tool timed out after 150 ms and was stopped.");
  // What the tool answered once its signal fired, in the grace before it was terminated.
  assertEquals(await late.promise, "aborted: TimeoutError");
});

Deno.test("tools run with no permissions unless declared", async () => {
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

Deno.test("a declared net permission is narrowed to its hosts", async () => {
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

Deno.test("progress reports reach the caller while the tool runs", async () => {
  const progress: string[] = [];
  const outcome = await call("sleep", { ms: 5 }, { onProgress: (text) => progress.push(text) });
  assertEquals(outcome.status, "succeeded");
  assertEquals(progress, ["sleeping 5 ms"]);
});

Deno.test("aborting the signal cancels a running call, and the tool's signal says so", async () => {
  const controller = new AbortController();
  const late = Promise.withResolvers<string>();
  const outcome = await call("notice_abort", {}, {
    signal: controller.signal,
    timeoutMs: 10_000,
    onProgress: () => controller.abort(), // the tool is running
    onLateResult: (result) => late.resolve(result.content),
  });
  assertEquals(outcome.status, "cancelled");
  assertEquals(await late.promise, "aborted: AbortError");
});

Deno.test("a module that fails to load gives an error outcome, not a crash", async () => {
  const outcome = await spawnToolCall({
    moduleUrl: new URL("missing_tool.ts", FIXTURE_TOOLS).href,
    permissions: {},
    callId: "toolu_x",
    input: {},
    timeoutMs: 5_000,
  });
  assertEquals(outcome.status, "failed");
  assertMatch(outcome.content, /^The tool crashed: .*missing_tool\.ts/);
});

Deno.test("fetch_url refuses loopback and private addresses, on every redirect, unless the operator allows them", async () => {
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
