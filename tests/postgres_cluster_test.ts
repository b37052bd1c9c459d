/**
 * Three servers on one PostgreSQL, each a process of its own in a folder of
 * its own (they share nothing but the database), started as a user starts
 * them: a task's result posted to any of them, a crowd of messages over all
 * of them, and a `kill -9` of the one driving a turn.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  conversationWhen,
  request,
  type ServerProcess,
  startServerProcess,
} from "./support/server_process.ts";
import { serverEnv, startTestPostgres } from "./support/postgres.ts";
import { lastUserText } from "./support/test_system.ts";
import { readEvents } from "./support/test_server.ts";

const pg = await startTestPostgres();

/** `count` servers on a fresh database, each in a folder of its own. */
async function startCluster(
  apiUrl: string,
  count: number,
): Promise<ServerProcess[] & AsyncDisposable> {
  const env = serverEnv(apiUrl, await pg.database());
  const folders = await Promise.all(Array.from({ length: count }, () => Deno.makeTempDir()));
  const servers = await Promise.all(
    folders.map((cwd) => startServerProcess(env, [], { cwd })),
  );
  return Object.assign(servers, {
    async [Symbol.asyncDispose]() {
      for (const server of servers) await server[Symbol.asyncDispose]();
      for (const folder of folders) await Deno.remove(folder, { recursive: true });
    },
  });
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeResources: false, fn });

test("a task's result posted to a third server reaches the model", async () => {
  const jobs: { resultPath: string; secret: string }[] = [];
  const queued = Promise.withResolvers<void>();
  await using outside = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      jobs.push(await req.json());
      queued.resolve();
      return new Response("accepted");
    },
  );
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "Thanks for the result." };
    if (last.includes("tool_result")) return { text: "Queued; the result will come." };
    const queueUrl = `http://127.0.0.1:${outside.addr.port}/jobs`;
    return { toolCalls: [{ name: "hand_off", input: { queueUrl, job: "transcode" } }] };
  });
  await using cluster = await startCluster(api.url, 3);
  const [a, b, c] = cluster;
  const id = (await request(`${a.url}/v1/conversations`, "POST", {})).body.id;
  const turn = await request(`${a.url}/v1/conversations/${id}/messages`, "POST", {
    content: "Transcode it.",
  });
  assertEquals(turn.body.status, "completed");
  await queued.promise;
  const delivered = await fetch(`${c.url}${jobs[0].resultPath}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${jobs[0].secret}` },
    body: JSON.stringify({ content: "transcoded: 42 frames" }),
  });
  assertEquals(delivered.status, 200, await delivered.text());
  const { history }: { history: Anthropic.MessageParam[] } = await conversationWhen(
    b.url,
    id,
    (body) => JSON.stringify(body.history.at(-1)).includes("Thanks for the result."),
  );
  assertStringIncludes(JSON.stringify(history), "transcoded: 42 frames");
});

test("60 messages at once over three servers to 20 conversations: no error, every tool result recorded", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("tool_result")) return { text: "Looked up." };
    return { toolCalls: [{ name: "lookup", input: { ms: 10, key: last.split(" ").at(-1) } }] };
  });
  await using cluster = await startCluster(api.url, 3);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    ids.push((await request(`${cluster[i % 3].url}/v1/conversations`, "POST", {})).body.id);
  }
  const answers = await Promise.all(
    Array.from(
      { length: 60 },
      (_, i) =>
        request(`${cluster[i % 3].url}/v1/conversations/${ids[i % 20]}/messages`, "POST", {
          content: `look up k${i}`,
        }),
    ),
  );
  assertEquals(answers.map((answer) => answer.status), Array(60).fill(200));
  assertEquals(answers.filter((answer) => answer.body.status !== "completed"), []);
  for (const [n, id] of ids.entries()) {
    const { body } = await request(`${cluster[n % 3].url}/v1/conversations/${id}`, "GET");
    const results = (body.history as Anthropic.MessageParam[])
      .flatMap((message) => Array.isArray(message.content) ? message.content : [])
      .filter((block): block is Anthropic.ToolResultBlockParam => block.type === "tool_result");
    assertEquals(results.length, 3, `conversation ${n}: every message's call recorded`);
    for (const result of results) assertStringIncludes(result.content as string, "value of k");
  }
});

test("kill -9 of the server driving a turn: another finishes it within the TTL and 2 s (the default TTL)", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result")
      ? { text: "Finished elsewhere." }
      : { toolCalls: [{ id: "toolu_long", name: "sleep", input: { ms: 60_000 } }] }
  );
  await using cluster = await startCluster(api.url, 2);
  const [driver, other] = cluster;
  const id = (await request(`${driver.url}/v1/conversations`, "POST", {})).body.id;
  const watching = fetch(`${other.url}/v1/conversations/${id}/events`);
  const turn = request(`${driver.url}/v1/conversations/${id}/messages`, "POST", { content: "go" })
    .catch(() => undefined); // its server dies under it
  await conversationWhen(other.url, id, (body) => body.status.callsInFlight.length === 1);
  const killed = Date.now();
  driver.child.kill("SIGKILL");
  const heard = await readEvents(await watching, (event) => event.type === "turn_finished");
  const took = Date.now() - killed;
  assert(took <= 12_000, `finished ${took} ms after the kill`);
  assertEquals(await turn, undefined);
  const finished = heard.at(-1) as { text?: string };
  assertEquals(finished.text, "Finished elsewhere.");
  const interrupted = heard.find((event) => event.type === "tool_call_finished");
  assertEquals(interrupted?.status, "interrupted");
});

Deno.test({
  name: "the PostgreSQL cluster stops",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => await pg[Symbol.asyncDispose](),
});
