import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { eventually, startServerProcess } from "./support/server_process.ts";

/** A raw TCP connection to the server, to send what no HTTP client would. */
async function connect(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  return await Deno.connect({ hostname, port: Number(port) });
}

/** Everything the server sends on `conn` until it closes it. */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

const ENV = { ANTHROPIC_API_KEY: "sk-ant-test", AGENT_DATA: ":memory:" };

Deno.test("a connection that never finishes its request is answered 408 after the default 10 s, in the API's JSON shape", async () => {
  await using server = await startServerProcess(ENV);
  const conn = await connect(server.url);
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  const response = await readAll(conn);
  assert(response.startsWith("HTTP/1.1 408 "), response);
  const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
  assertEquals(body.error.type, "request_timeout");
});

Deno.test("a URL longer than the limit gets a JSON 414, not an empty 400", async () => {
  await using server = await startServerProcess(ENV);
  const conn = await connect(server.url);
  const id = "a".repeat(100_000);
  await conn.write(
    new TextEncoder().encode(`GET /v1/conversations/${id} HTTP/1.1\r\nHost: x\r\n\r\n`),
  );
  const response = await readAll(conn);
  assert(response.startsWith("HTTP/1.1 414 "), response.slice(0, 80));
  const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
  assertEquals(body.error, { type: "request_too_large", message: "The URL is too long." });
});

Deno.test("a flood of idle connections past the open-file limit: the server refuses the excess with 503, survives, and serves once the flood stops", async () => {
  // 256 open files: about 64 connections are admitted by default.
  await using server = await startServerProcess(ENV, [], { openFiles: 256 });
  const flood: Deno.TcpConn[] = [];
  for (let i = 0; i < 700; i++) {
    try {
      const conn = await connect(server.url);
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\n")); // and never more
      flood.push(conn);
    } catch {
      break; // this process's own limit
    }
  }
  // A request may meet the server out of descriptors: each try has its own time limit.
  const get = () =>
    fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
  const refused = await eventually(async () => {
    const response = await get();
    return response?.status === 503 ? response : undefined;
  });
  assertEquals(refused.headers.get("retry-after"), "5");
  assertEquals((await refused.json()).error.type, "server_busy");
  for (const conn of flood) conn.close();
  const healthy = await eventually(async () => {
    const response = await get();
    if (response?.status !== 200) await response?.body?.cancel();
    return response?.status === 200 ? response : undefined;
  });
  assertEquals((await healthy.json()).ok, true);
  assertStringIncludes(server.log(), "Listening");
  assert(!server.log().includes("Too many open files"), server.log());
});
