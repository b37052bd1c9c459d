/**
 * Load on the HTTP API with a real load generator (autocannon), loopback
 * only, bounded in time: `GET /healthz`, and full turns against the fake
 * model. The server runs in its own process, as `deno task serve`.
 *
 * @module
 */
import { autocannon } from "./_deps.ts";
import { startFakeMessagesApi } from "../support/fake_messages_api.ts";

const SECONDS = 5;
const CONNECTIONS = 10;

await using api = startFakeMessagesApi((request) => {
  const last = JSON.stringify(request.body.messages.at(-1)!.content);
  if (last.includes("tool_result") || last.includes("no tools")) return { text: "Done." };
  return { toolCalls: [1, 2, 3].map(() => ({ name: "current_time", input: {} })) };
});
/** Starts `deno task serve` in its own process; the front door on or off. */
async function startServer(frontDoor: boolean) {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../../src/http/serve.ts", import.meta.url).pathname],
    env: {
      PORT: String(port),
      ANTHROPIC_API_KEY: "bench",
      ANTHROPIC_BASE_URL: api.url,
      // Every turn is journaled, as in production: a KV file on disk.
      AGENT_DATA: `${await Deno.makeTempDir()}/journal.kv`,
      AGENT_FRONT_DOOR: frontDoor ? "on" : "off",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (let seen = ""; !seen.includes("Listening on");) {
    const { done, value } = await log.read();
    if (done) throw new Error(`the server exited before listening:\n${seen}`);
    seen += value;
  }
  return {
    base: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await log.cancel();
    },
  };
}
let base = "";

async function createConversations(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await (await fetch(`${base}/v1/conversations`, { method: "POST" })).json()).id);
  }
  return ids;
}

async function load(title: string, options: Record<string, unknown>) {
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: SECONDS,
    ...options,
  });
  const failures = result.errors + result.timeouts + result.non2xx;
  return [
    title,
    `${result.requests.average.toFixed(0)}`,
    `${result.latency.p50} ms`,
    `${result.latency.p99} ms`,
    `${result.requests.total}`,
    `${failures}`,
  ];
}

function turns(ids: string[], content: string) {
  let next = 0;
  return {
    requests: [{
      method: "POST",
      headers: { "content-type": "application/json" },
      setupRequest: (request: Record<string, unknown>) => ({
        ...request,
        path: `/v1/conversations/${ids[next++ % ids.length]}/messages`,
        body: JSON.stringify({ content }),
      }),
    }],
  };
}

/**
 * The front door serves one request per connection, which autocannon cannot
 * drive (it assumes keep-alive), so both servers are also driven by a plain
 * closed loop of `fetch` clients, which reconnect as browsers do.
 */
async function fetchLoad(title: string, request: () => Request) {
  const latencies: number[] = [];
  let failures = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const response = await fetch(request());
      await response.arrayBuffer();
      if (!response.ok) failures++;
      latencies.push(performance.now() - started);
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => `${latencies[Math.floor(latencies.length * q)].toFixed(1)} ms`;
  return [
    title,
    (latencies.length / SECONDS).toFixed(0),
    at(0.5),
    at(0.99),
    String(latencies.length),
    String(failures),
  ];
}

function turnRequests(ids: string[], content: string) {
  let next = 0;
  return () =>
    new Request(`${base}/v1/conversations/${ids[next++ % ids.length]}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content }),
    });
}

const rows: string[][] = [];
for (const frontDoor of [true, false]) {
  const server = await startServer(frontDoor);
  base = server.base;
  const label = frontDoor ? "front door" : "Deno.serve alone";
  rows.push(
    await fetchLoad(`fetch: GET /healthz, ${label}`, () => new Request(`${base}/healthz`)),
    await fetchLoad(
      `fetch: turn, no tools, ${label}`,
      turnRequests(await createConversations(CONNECTIONS * 20), "no tools"),
    ),
    await fetchLoad(
      `fetch: turn, 3 parallel tools, ${label}`,
      turnRequests(await createConversations(CONNECTIONS * 20), "tools"),
    ),
  );
  if (!frontDoor) {
    rows.push(
      await load("autocannon: GET /healthz, Deno.serve alone", { url: `${base}/healthz` }),
      await load(
        "autocannon: turn, no tools, Deno.serve alone",
        turns(await createConversations(CONNECTIONS * 20), "no tools"),
      ),
    );
  }
  await server.stop();
}
const header = ["", "req/s", "p50", "p99", "requests", "errors"];
const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
console.log(
  `\nHTTP load: ${CONNECTIONS} concurrent clients, ${SECONDS} s each, loopback, server in its own process\n`,
);
for (const row of [header, ...rows]) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("   "));
}
