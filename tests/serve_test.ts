import { assertEquals, assertStringIncludes } from "@std/assert";
import { startFakeMessagesApi, systemOf } from "./support/fake_messages_api.ts";
import {
  conversationsMidCall,
  conversationWhen,
  finishTimes,
  journaledServerEnv,
  request,
  sleepThenAnswer,
  startServerProcess,
} from "./support/server_process.ts";
import { readEvents } from "./support/test_server.ts";
import { lastUserText } from "./support/test_system.ts";

const SERVE = new URL("../src/http/serve.ts", import.meta.url).pathname;

function serve(env: Record<string, string>, args: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", SERVE, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  });
}

/** A port nothing listens on now (the OS picks it). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

Deno.test("the server refuses to listen beyond loopback without a token", async () => {
  const { code, stderr } = await serve({ HOST: "0.0.0.0", PORT: "0" }).output();
  assertEquals(code, 2);
  assertStringIncludes(
    new TextDecoder().decode(stderr),
    "Refusing to listen on 0.0.0.0 without AGENT_API_TOKEN",
  );
});

Deno.test("bad server settings are refused with exit 2", async () => {
  const { code, stderr } = await serve({ PORT: "eighty" }).output();
  assertEquals(code, 2);
  assertStringIncludes(
    new TextDecoder().decode(stderr),
    'PORT must be a whole number from 0 to 65535, got "eighty".',
  );
});

Deno.test("a port already in use is named in one line, exit 2, no stack trace", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(taken.addr.port);
  for (const frontDoor of ["on", "off"]) {
    const env = { PORT: port, AGENT_DATA: ":memory:", AGENT_FRONT_DOOR: frontDoor };
    const { code, stderr } = await serve(env).output();
    const text = new TextDecoder().decode(stderr);
    assertEquals(code, 2, text);
    assertStringIncludes(
      text,
      `error: Cannot listen on 127.0.0.1:${port}: the address is already in use.`,
    );
    assertEquals(text.includes("    at "), false, text);
  }
});

Deno.test("deno task serve answers on PORT, requires its token, and stops cleanly on SIGTERM", async () => {
  const port = freePort();
  const child = serve({
    HOST: "0.0.0.0",
    PORT: String(port),
    AGENT_API_TOKEN: "tok",
    AGENT_DATA: ":memory:",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!log.includes("Listening on")) {
    const { done, value } = await lines.read();
    if (done) throw new Error(`the server exited before listening:\n${log}`);
    log += value;
  }
  assertEquals((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).ok, true);
  const denied = await fetch(`http://127.0.0.1:${port}/v1/tools`);
  assertEquals(denied.status, 401);
  await denied.body?.cancel();
  const tools = await fetch(`http://127.0.0.1:${port}/v1/tools`, {
    headers: { authorization: "Bearer tok" },
  });
  assertEquals(tools.status, 200);
  await tools.body?.cancel();
  child.kill("SIGTERM");
  assertEquals((await child.status).code, 0);
  await lines.cancel();
  await child.stdout.cancel();
});

Deno.test("serve --help prints the server's own usage; --json and a prompt are refused", async () => {
  const help = await serve({}, ["--help"]).output();
  assertEquals(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  assertStringIncludes(text, "Usage: deno task serve [flags]");
  assertStringIncludes(text, "AGENT_DRAIN_MS");
  assertEquals(text.includes("--json"), false);
  for (
    const [args, message] of [
      [["--json"], "--json is for deno task run"],
      [["hello"], 'deno task serve takes no prompt (got "hello")'],
    ]
  ) {
    const { code, stderr } = await serve({ PORT: "0" }, args as string[]).output();
    assertEquals(code, 2);
    assertStringIncludes(new TextDecoder().decode(stderr), message as string);
  }
});

Deno.test("serve --system is the system prompt of conversations created without one", async () => {
  await using api = startFakeMessagesApi(() => ({ text: "Terse." }));
  await using server = await startServerProcess(await journaledServerEnv(api.url), [
    "--system",
    "Be terse.",
  ]);
  const plain = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
  const own = (await request(`${server.url}/v1/conversations`, "POST", { system: "Be kind." }))
    .body.id;
  for (const id of [plain, own]) {
    await request(`${server.url}/v1/conversations/${id}/messages`, "POST", { content: "Hi" });
  }
  assertEquals(api.requests.map(systemOf), ["Be terse.", "Be kind."]);
});

Deno.test("SIGTERM with an event stream open: the stream ends with server_shutdown, the running turn finishes and is answered, the server exits 0", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result")
      ? { text: "Slept." }
      : { toolCalls: [{ name: "sleep", input: { ms: 1_500 } }] }
  );
  await using server = await startServerProcess(await journaledServerEnv(api.url));
  const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
  const stream = await fetch(`${server.url}/v1/conversations/${id}/events`);
  const events = readEvents(stream);
  const turn = request(`${server.url}/v1/conversations/${id}/messages`, "POST", {
    content: "Sleep.",
  });
  await conversationWhen(server.url, id, (body) => body.status.callsInFlight.length === 1);
  server.child.kill("SIGTERM");
  const seen = await events;
  assertEquals(seen.at(-1)!.type, "server_shutdown");
  const reply = await turn;
  assertEquals([reply.status, reply.body.status, reply.body.text], [200, "completed", "Slept."]);
  assertEquals((await server.child.status).code, 0);
  assertStringIncludes(server.log(), "Shutting down: running turns get up to 10000 ms");
});

Deno.test("a turn that outlasts AGENT_DRAIN_MS is left to recovery, which another server takes up at once", async () => {
  await using api = startFakeMessagesApi(sleepThenAnswer("Recovered."));
  // A TTL far longer than the test: only a server that says it has stopped is taken over in time.
  const env = await journaledServerEnv(api.url, {
    AGENT_DRAIN_MS: "200",
    AGENT_NODE_TTL_MS: "120000",
  });
  const stopped = await startServerProcess(env);
  const [id] = await conversationsMidCall(stopped.url, 1);
  stopped.child.kill("SIGTERM");
  assertEquals((await stopped.child.status).code, 0);
  await using next = await startServerProcess(env);
  await finishTimes(next.url, [id], "Recovered.");
});

/**
 * Sends one HTTP/1.1 request over a plain socket, with exactly these headers
 * (fetch does not let a caller set Host), and returns the status and JSON.
 */
async function rawRequest(url: string, head: string, body = "") {
  const { hostname, port } = new URL(url);
  using conn = await Deno.connect({ hostname, port: Number(port) });
  const lines = `${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  await conn.write(new TextEncoder().encode(lines));
  const answer = await new Response(conn.readable).text();
  const status = Number(answer.slice(9, 12));
  return { status, body: JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4) || "null") };
}

Deno.test("DNS rebinding: a token-less server refuses a foreign Host or Origin, and its agent card names the configured URL", async () => {
  await using server = await startServerProcess({ AGENT_DATA: ":memory:" });
  const port = new URL(server.url).port;
  const post = async (host: string, origin?: string) => {
    const head = [
      "POST /v1/conversations HTTP/1.1",
      `Host: ${host}`,
      "Content-Type: application/json",
      ...(origin ? [`Origin: ${origin}`] : []),
    ].join("\r\n");
    const { status, body } = await rawRequest(server.url, head, "{}");
    return [status, body.error?.type];
  };
  // A page on attacker.example whose name now resolves to 127.0.0.1.
  const rebound = `attacker.example:${port}`;
  assertEquals(await post(rebound, `http://${rebound}`), [403, "forbidden_host"]);
  const own = `127.0.0.1:${port}`;
  assertEquals(await post(own, "http://attacker.example"), [403, "forbidden_origin"]);
  assertEquals(await post(own, `http://${own}`), [201, undefined]);
  assertEquals(await post(`localhost:${port}`), [201, undefined]);

  const card = (host: string, url: string) =>
    rawRequest(url, `GET /.well-known/agent-card.json HTTP/1.1\r\nHost: ${host}`);
  const served = await card(own, server.url);
  assertEquals(served.body.supportedInterfaces[0].url, `${server.url}/a2a`);
  await using named = await startServerProcess({
    AGENT_DATA: ":memory:",
    AGENT_ALLOWED_HOSTS: "agent.example.com",
    AGENT_PUBLIC_URL: "https://agent.example.com/",
  });
  const namedCard = await card("agent.example.com", named.url);
  assertEquals(namedCard.body.supportedInterfaces[0].url, "https://agent.example.com/a2a");
  assertEquals((await card("evil.example", named.url)).status, 403);
});
