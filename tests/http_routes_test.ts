import { assert, assertEquals, assertMatch } from "@std/assert";
import { createApp } from "../src/http/app.ts";
import { detectPlatform } from "../src/platform.ts";
import { startFakeMessagesApi, systemOf } from "./support/fake_messages_api.ts";
import { testSystem } from "./support/test_system.ts";

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

async function testApp(
  options: { token?: string; maxBodyBytes?: number; maxMessageBytes?: number } = {},
) {
  const api = startFakeMessagesApi(() => ({ text: "Hello from the fake." }));
  const system = await testSystem(api);
  return {
    app: createApp({ system, platform: detectPlatform(), ...options }),
    api,
    system,
    async [Symbol.asyncDispose]() {
      await system[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

Deno.test("GET / and /healthz answer without auth; healthz reports the capabilities", async () => {
  await using test = await testApp({ token: "s3cret" });
  const { app } = test;
  assertEquals((await app.request("/")).status, 200);
  const health = await (await app.request("/healthz")).json();
  assertEquals(health.ok, true);
  assertEquals(health.capabilities.workerPermissions, true);
  assertEquals(health.capabilities.toolSandbox, "per-worker");
  assertEquals(typeof health.version, "string");
});

Deno.test("with a token, every /v1 route requires it", async () => {
  await using test = await testApp({ token: "s3cret" });
  const { app } = test;
  const missing = await app.request("/v1/tools");
  assertEquals(missing.status, 401);
  assertEquals((await missing.json()).error.type, "authentication_error");
  assertEquals(
    (await app.request("/v1/tools", { headers: { authorization: "Bearer wrong" } })).status,
    401,
  );
  assertEquals((await app.request("/v1/conversations", json({}))).status, 401);
  const ok = await app.request("/v1/tools", { headers: { authorization: "Bearer s3cret" } });
  assertEquals(ok.status, 200);
});

Deno.test("GET /v1/tools lists name, description, source, schema, permissions and timeout", async () => {
  await using test = await testApp();
  const { app } = test;
  const { tools } = await (await app.request("/v1/tools")).json();
  const fetchUrl = tools.find((tool: { name: string }) => tool.name === "fetch_url");
  assertEquals(fetchUrl.permissions, { net: true, env: ["AGENT_FETCH_ALLOW"] });
  assertEquals(fetchUrl.timeoutMs, 20_000);
  assertEquals(fetchUrl.inputSchema.required, ["url"]);
  assertEquals(fetchUrl.source, {
    type: "module",
    url: new URL("../tools/fetch_url.ts", import.meta.url).href,
  });
  assertEquals(tools.find((tool: { name: string }) => tool.name === "sleep").timeoutMs, 10_000);
});

Deno.test("GET /v1/tools shows each tool's policies, with the defaults it gets", async () => {
  await using test = await testApp();
  const { tools } = await (await test.app.request("/v1/tools")).json();
  const policies = (name: string) =>
    tools.find((tool: { name: string }) => tool.name === name).policies;
  assertEquals(policies("sleep"), {
    idempotent: false,
    retries: 0,
    maxConcurrent: null,
    perSecond: null,
    critical: false,
    needsApproval: false,
    priority: "normal",
    reuse: null,
    concurrency: 1,
    breaker: { state: "closed", failures: 0 },
  });
  assertEquals(policies("flaky_fetch").retries, 3);
  assertEquals(policies("gated").maxConcurrent, 2);
  assertEquals(policies("critical_check").critical, true);
  assertEquals(policies("guarded").needsApproval, true);
  assertEquals([policies("gather").reuse, policies("gather").concurrency], ["any", 3]);
  assertEquals(policies("low_sleep").priority, "low");
  assertEquals(policies("slow_report").priority, "low", "a background tool waits behind turns");
});

Deno.test("a conversation is created, driven and read back", async () => {
  await using test = await testApp();
  const { app, api } = test;
  const created = await app.request(
    "/v1/conversations",
    json({ system: "Be brief.", tools: ["shout"] }),
  );
  assertEquals(created.status, 201);
  const { id, tools } = await created.json();
  assertMatch(id, /^[0-9a-f-]{36}$/);
  assertEquals(tools, ["shout"]);
  const reply =
    await (await app.request(`/v1/conversations/${id}/messages`, json({ content: "Hi" }))).json();
  assertEquals(reply, {
    ...reply,
    conversationId: id,
    status: "completed",
    text: "Hello from the fake.",
    toolCalls: [],
  });
  const read = await (await app.request(`/v1/conversations/${id}`)).json();
  assertEquals(read.status.state, "idle");
  assertEquals(read.history.length, 2);
  assertEquals(systemOf(api.requests[0]), "Be brief.");
});

Deno.test("bad requests get the right 4xx and a JSON error that says what to fix", async () => {
  await using test = await testApp({ maxBodyBytes: 1000, maxMessageBytes: 1000 });
  const { app } = test;
  const { id } = await (await app.request("/v1/conversations", json({}))).json();
  const cases: [string, RequestInit, number, string, RegExp][] = [
    ["/v1/nowhere", {}, 404, "not_found", /no route GET \/v1\/nowhere/],
    ["/v1/conversations/nope", {}, 404, "not_found", /no conversation nope/],
    // Longer than a KV key may be: still a plain 404.
    [`/v1/conversations/${"a".repeat(3000)}`, {}, 404, "not_found", /no conversation a+\./],
    [`/v1/tasks/task_${"b".repeat(3000)}`, {}, 404, "not_found", /no task task_b+\./],
    [
      "/v1/tasks/task_nope/result",
      json({ content: "x" }, { authorization: "Bearer x" }),
      404,
      "not_found",
      /no handed-off task task_nope/,
    ],
    [
      "/v1/conversations/nope/messages",
      json({ content: "x" }),
      404,
      "not_found",
      /no conversation nope/,
    ],
    [
      `/v1/conversations/${id}/messages`,
      { method: "POST", body: "{bad json", headers: { "content-type": "application/json" } },
      400,
      "invalid_request",
      /Malformed JSON/,
    ],
    [
      `/v1/conversations/${id}/messages`,
      { method: "POST", body: "hello", headers: { "content-type": "text/plain" } },
      415,
      "unsupported_media_type",
      /application\/json/,
    ],
    [
      // Bytes with no Content-Type at all: refused, not read as "no body".
      "/v1/conversations",
      { method: "POST", body: new TextEncoder().encode('{"tools":["shout"]}') },
      415,
      "unsupported_media_type",
      /application\/json/,
    ],
    [`/v1/conversations/${id}/messages`, json({}), 400, "invalid_request", /content/],
    [
      `/v1/conversations/${id}/messages`,
      json({ content: 42 }),
      400,
      "invalid_request",
      /content: .*string/,
    ],
    [
      `/v1/conversations/${id}/messages`,
      json({ content: "" }),
      400,
      "invalid_request",
      /content: must not be empty/,
    ],
    [
      `/v1/conversations/${id}/messages`,
      json({ content: "x", extra: 1 }),
      400,
      "invalid_request",
      /extra/,
    ],
    [
      `/v1/conversations/${id}/messages`,
      json({ content: "x".repeat(2000) }),
      413,
      "payload_too_large",
      /limit of 1000 bytes/,
    ],
    ["/v1/conversations", json({ tools: "all" }), 400, "invalid_request", /tools/],
  ];
  for (const [path, init, status, type, message] of cases) {
    const response = await app.request(path, init);
    const body = await response.json();
    assertEquals([response.status, body.error?.type], [status, type], `${path} ${init.body ?? ""}`);
    assertMatch(body.error.message, message);
  }
});

Deno.test("over-long content is refused with its limit", async () => {
  await using test = await testApp({ maxBodyBytes: 10 * 1024 * 1024 });
  const { app, api } = test;
  const { id } = await (await app.request("/v1/conversations", json({}))).json();
  const response = await app.request(
    `/v1/conversations/${id}/messages`,
    json({ content: "x".repeat(200_001) }),
  );
  assertEquals(response.status, 400);
  assertMatch((await response.json()).error.message, /content: must be at most 200000 characters/);
  assertEquals(api.requests.length, 0);
});

Deno.test("hundreds of malformed and random requests never produce a 500", async () => {
  await using test = await testApp({ token: "t", maxBodyBytes: 4096 });
  const { app } = test;
  const auth = { authorization: "Bearer t" };
  const { id } = await (await app.request("/v1/conversations", json({}, auth))).json();
  const paths = [
    "/",
    "/healthz",
    "/v1",
    "/v1/tools",
    "/v1/conversations",
    `/v1/conversations/${id}`,
    `/v1/conversations/${id}/messages`,
    `/v1/conversations/${id}/cancel`,
    `/v1/conversations/${id}/events/x`,
    "/v1/conversations/%00",
    "/v1/conversations/../../etc/passwd",
    "/v1/%ZZ",
  ];
  const methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
  const bodies = [
    undefined,
    "",
    "{",
    "null",
    "[]",
    "42",
    '"s"',
    '{"content":null}',
    '{"content":{"a":1}}',
    '{"content":"' + "é".repeat(3000) + '"}',
    "\u0000\u0001",
    '{"tools":[1,2]}',
    '{"system":5}',
    '{"model":""}',
  ];
  const types = [
    undefined,
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "multipart/form-data",
  ];
  let seed = 42;
  const pick = <T>(list: T[]) => list[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % list.length];
  for (let i = 0; i < 300; i++) {
    const method = pick(methods);
    const body = method === "GET" ? undefined : pick(bodies);
    const type = pick(types);
    const headers: Record<string, string> = {
      ...(i % 5 === 0 ? {} : auth),
      ...(type ? { "content-type": type } : {}),
    };
    const response = await app.request(pick(paths), { method, body, headers });
    assert(response.status < 500, `${method} → ${response.status}`);
    if (response.status >= 400) {
      const error = await response.json();
      assertEquals(typeof error.error.message, "string");
    } else await response.body?.cancel();
  }
  assertEquals((await app.request("/healthz")).status, 200);
});

Deno.test("GET /v1/conversations lists the newest first with state and title; a bad limit is a 400 that names it", async () => {
  await using test = await testApp();
  const { app, system } = test;
  for (const text of ["first", "second", "third"]) {
    await (await system.createConversation()).send(text);
  }
  const empty = await system.createConversation();
  const listed = await (await app.request("/v1/conversations?limit=3")).json();
  assertEquals(
    listed.conversations.map((c: { title: string; state: string }) => [c.title, c.state]),
    [["", "idle"], ["third", "idle"], ["second", "idle"]],
  );
  assertEquals(listed.conversations[0].id, empty.id);
  const bad = await app.request("/v1/conversations?limit=0");
  assertEquals(bad.status, 400);
  assertMatch((await bad.json()).error.message, /^Invalid query: limit: must be at least 1/);
});

Deno.test("the web page is served to browsers without a token, kept to this server by its policy; other clients get the API's name at /", async () => {
  await using test = await testApp({ token: "s3cret" });
  const { app } = test;
  const page = await app.request("/", { headers: { accept: "text/html" } });
  assertEquals(page.status, 200);
  assertMatch(page.headers.get("content-type")!, /^text\/html/);
  assertMatch(
    page.headers.get("content-security-policy")!,
    /default-src 'none'.*connect-src 'self'/,
  );
  assertMatch(await page.text(), /<script type="module" src="\/page\/app.js">/);
  const script = await app.request("/page/app.js");
  assertEquals(script.status, 200);
  assertMatch(script.headers.get("content-type")!, /^text\/javascript/);
  assertEquals((await app.request("/page/..%2Fpage.ts")).status, 404);
  assertEquals((await app.request("/page/nothing.js")).status, 404);
  assertEquals((await (await app.request("/")).json()).api, "/v1");
});
