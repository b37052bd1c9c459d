/**
 * The server on PostgreSQL (`AGENT_DATA=postgres://…`), started as a user
 * starts it, against a throw-away cluster the tests start and stop: its
 * address is never shown with its password, a database that is down is a
 * clear refusal at start-up and a 503 mid-run that heals by itself, and a
 * `kill -9` loses nothing.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  conversationWhen,
  eventually,
  request,
  sendWithoutWaiting,
  startServerProcess,
} from "./support/server_process.ts";
import { serverEnv, startTestPostgres } from "./support/postgres.ts";
import { lastUserText } from "./support/test_system.ts";
import postgres from "postgres";
import { createAgentSystem } from "../mod.ts";
import { readEvents } from "./support/test_server.ts";

type Heard = { type: string; id: number; [key: string]: unknown };

/** Reads an event stream as it comes: `next(pick)` waits for an event `pick` accepts. */
function followEvents(response: Response) {
  const seen: Heard[] = [];
  let waiters: { pick: (event: Heard) => boolean; resolve: (event: Heard) => void }[] = [];
  let stopped = false;
  const reading = readEvents(response, (event) => {
    seen.push(event as Heard);
    waiters = waiters.filter((waiter) =>
      !(waiter.pick(event as Heard) && (waiter.resolve(event as Heard), true))
    );
    return stopped;
  });
  return {
    seen,
    /** The first event `pick` accepts; fails, saying what came, if none comes within 30 s. */
    next(pick: (event: Heard) => boolean): Promise<Heard> {
      const already = seen.find(pick);
      if (already) return Promise.resolve(already);
      const { promise, resolve, reject } = Promise.withResolvers<Heard>();
      const timer = setTimeout(
        () => reject(new Error(`not heard; heard: ${seen.map((e) => e.type).join(", ")}`)),
        30_000,
      );
      waiters.push({ pick, resolve: (event) => (clearTimeout(timer), resolve(event)) });
      return promise;
    },
    stop() {
      stopped = true;
      response.body?.cancel().catch(() => {});
      reading.catch(() => {});
    },
  };
}

const SERVE = new URL("../src/http/serve.ts", import.meta.url).pathname;
const pg = await startTestPostgres();

const lookups = (request: { body: { messages: { content: unknown }[] } }) =>
  lastUserText(request).includes("tool_result") ? { text: "Looked up." } : {
    toolCalls: [
      { id: "toolu_a", name: "lookup", input: { ms: 10, key: "a" } },
      { id: "toolu_b", name: "lookup", input: { ms: 10, key: "b" } },
    ],
  };

Deno.test({
  name: "on PostgreSQL a turn runs its calls, and the address is shown without its password",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi(lookups);
    const database = await pg.database();
    await using server = await startServerProcess(serverEnv(api.url, database));
    const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
    const turn = await request(`${server.url}/v1/conversations/${id}/messages`, "POST", {
      content: "Look both up.",
    });
    assertEquals(turn.body.status, "completed");
    assertEquals(turn.body.toolCalls.map((call: { status: string }) => call.status), [
      "succeeded",
      "succeeded",
    ]);
    const shown = new URL(database);
    shown.password = "";
    assertStringIncludes(server.log(), `Journal: ${shown.href}`);
    assert(!server.log().includes("secret"), server.log());
    const listed = await request(`${server.url}/v1/conversations`, "GET");
    assertEquals(listed.body.conversations.map((c: { title: string }) => c.title), [
      "Look both up.",
    ]);
  },
});

Deno.test({
  name:
    "on PostgreSQL, kill -9 mid-turn: after a restart every message is there and the turn finishes",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) => {
      const last = lastUserText(request);
      if (last.includes("tool_result")) return { text: "Recovered." };
      return {
        toolCalls: [
          { id: "toolu_slow", name: "sleep", input: { ms: 60_000, label: "slow" } },
          { id: "toolu_lookup", name: "lookup", input: { ms: 1_500, key: "k" } },
        ],
      };
    });
    const env = serverEnv(api.url, await pg.database(), { AGENT_NODE_TTL_MS: "600" });
    let id: string;
    {
      await using first = await startServerProcess(env);
      id = (await request(`${first.url}/v1/conversations`, "POST", {})).body.id;
      sendWithoutWaiting(first.url, id, "first");
      await conversationWhen(first.url, id, (body) => body.status.callsInFlight.length === 2);
      first.child.kill("SIGKILL");
    }
    await using second = await startServerProcess(env);
    const { history }: { history: Anthropic.MessageParam[] } = await conversationWhen(
      second.url,
      id,
      (body) =>
        body.status.state === "idle" &&
        JSON.stringify(body.history.at(-1)).includes("Recovered."),
    );
    assertEquals(history.map((message) => message.role), [
      "user",
      "assistant",
      "user",
      "assistant",
    ]);
    const results = history[2].content as Anthropic.ToolResultBlockParam[];
    assertEquals(results.map((block) => [block.tool_use_id, block.is_error ?? false]), [
      ["toolu_slow", true],
      ["toolu_lookup", false],
    ]);
  },
});

Deno.test({
  name:
    "PostgreSQL down at start-up: exit 2, one line naming the address (no password) and the cause",
  sanitizeResources: false,
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listener.close(); // a port nothing listens on
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-check", SERVE],
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "",
        PORT: "0",
        ANTHROPIC_API_KEY: "sk-ant-test",
        AGENT_DATA: `postgres://agent:hunter2@127.0.0.1:${listener.addr.port}/agent`,
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(stderr).trim();
    assertEquals(code, 2, said);
    assertEquals(said.split("\n").length, 1, said);
    assertStringIncludes(said, `postgres://agent@127.0.0.1:${listener.addr.port}/agent`);
    assertStringIncludes(said, "cannot be reached");
    assert(!said.includes("hunter2"), said);
  },
});

Deno.test({
  name:
    "PostgreSQL restarting mid-turn: requests answer 503 journal_unavailable, then the server heals by itself, nothing lost",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) => {
      const last = lastUserText(request);
      if (last.includes("tool_result")) return { text: "Slept through it." };
      if (last.includes("nap")) return { toolCalls: [{ name: "sleep", input: { ms: 5_000 } }] };
      return { text: "Still here." };
    });
    await using server = await startServerProcess(serverEnv(api.url, await pg.database()));
    const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
    sendWithoutWaiting(server.url, id, "nap");
    await conversationWhen(server.url, id, (body) => body.status.callsInFlight.length === 1);
    await pg.stop("immediate");
    try {
      const refused = await request(`${server.url}/v1/conversations`, "POST", {});
      assertEquals(refused.status, 503);
      assertEquals(refused.body.error.type, "journal_unavailable");
      const health = await request(`${server.url}/healthz`, "GET");
      assertEquals([health.status, health.body.journal.ok], [503, false]);
    } finally {
      await pg.start();
    }
    // The call ends after the database is back: its result is recorded, the turn goes on.
    const { history }: { history: Anthropic.MessageParam[] } = await conversationWhen(
      server.url,
      id,
      (body) =>
        body.status.state === "idle" &&
        JSON.stringify(body.history.at(-1)).includes("Slept through it."),
    );
    const [result] = history[2].content as Anthropic.ToolResultBlockParam[];
    assertEquals(result.is_error ?? false, false);
    const turn = await request(`${server.url}/v1/conversations/${id}/messages`, "POST", {
      content: "Still there?",
    });
    assertEquals([turn.body.status, turn.body.text], ["completed", "Still here."]);
    assertEquals((await request(`${server.url}/healthz`, "GET")).body.journal, { ok: true });
  },
});

Deno.test({
  name: "two servers on one PostgreSQL: a message, an approval and an event stream work on either",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) => {
      const last = lastUserText(request);
      if (last.includes("tool_result")) return { text: "Paid." };
      if (last.includes("second")) return { text: "Second answered." };
      return { toolCalls: [{ id: "toolu_pay", name: "pay", input: { amount: 500 } }] };
    });
    const env = serverEnv(api.url, await pg.database());
    await using a = await startServerProcess(env);
    await using b = await startServerProcess(env);
    const id = (await request(`${a.url}/v1/conversations`, "POST", {})).body.id;
    // B watches; what it hears comes from A's writes, told at once (NOTIFY), not polled.
    const heard = followEvents(await fetch(`${b.url}/v1/conversations/${id}/events`));
    const driven = followEvents(await fetch(`${a.url}/v1/conversations/${id}/events`));
    sendWithoutWaiting(a.url, id, "pay 500");
    const asked = await heard.next((event) => event.type === "tool_call_awaiting_approval");
    assertEquals(asked.callId, "toolu_pay");
    // A drives the turn (it waits for the approval); B takes a message, and the approval.
    const second = request(`${b.url}/v1/conversations/${id}/messages`, "POST", {
      content: "second",
    });
    const approved = await request(
      `${b.url}/v1/conversations/${id}/calls/toolu_pay/approval`,
      "POST",
      { approved: true },
    );
    assertEquals(approved.status, 200);
    const answer = await second;
    assertEquals(answer.status, 200, JSON.stringify(answer.body));
    assertEquals([answer.body.status, answer.body.text], ["completed", "Second answered."]);
    const secondEnded = (event: Heard) =>
      event.type === "turn_finished" && event.text === "Second answered.";
    await heard.next(secondEnded);
    await driven.next(secondEnded);
    heard.stop();
    driven.stop();
    // What B's watcher saw is what A's saw: the same events, with the same ids, in order.
    const said = (events: Heard[]) => events.map((event) => `${event.id} ${event.type}`);
    assertEquals(said(heard.seen), said(driven.seen));
    // A client that reconnects to B with an id A gave it gets what came after it.
    const cut = driven.seen.findIndex((event) => event.type === "tool_call_approved");
    const resumed = await readEvents(
      await fetch(`${b.url}/v1/conversations/${id}/events`, {
        headers: { "last-event-id": String(driven.seen[cut].id) },
      }),
      (event) => secondEnded(event as Heard),
    );
    assertEquals(said(resumed as Heard[]), said(driven.seen.slice(cut + 1)));
    assertEquals(
      heard.seen.filter((event) => event.type === "turn_finished").map((event) => event.text),
      ["Paid.", "Second answered."],
    );
  },
});

Deno.test({
  name:
    "two servers on one PostgreSQL: a stream on either carries the driver's progress and streamed text, ids rising",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) =>
      lastUserText(request).includes("tool_result")
        ? { text: "All done, slept well." }
        : { toolCalls: [{ id: "toolu_nap", name: "sleep", input: { ms: 300, label: "nap" } }] }
    );
    const env = serverEnv(api.url, await pg.database());
    await using a = await startServerProcess(env);
    await using b = await startServerProcess(env);
    const id = (await request(`${a.url}/v1/conversations`, "POST", {})).body.id;
    const heard = followEvents(await fetch(`${b.url}/v1/conversations/${id}/events`));
    const turn = await request(`${a.url}/v1/conversations/${id}/messages`, "POST", {
      content: "nap",
    });
    assertEquals(turn.body.status, "completed");
    await heard.next((event) => event.type === "turn_finished");
    heard.stop();
    const progress = heard.seen.find((event) => event.type === "tool_call_progress");
    assertEquals(progress?.text, "sleeping 300 ms", "progress no record stands for, relayed");
    const ids = heard.seen.map((event) => event.id);
    assertEquals(ids, ids.toSorted((x, y) => x - y), "ids rise");
    assertEquals(new Set(ids).size, ids.length, "no id twice");
    const text = heard.seen.filter((event) => event.type === "text_delta").map((e) => e.text).join(
      "",
    );
    assertEquals(text, "All done, slept well.", "the reply's text, once");
  },
});

Deno.test({
  name: "two servers on one PostgreSQL: a cancel sent to either stops the turn where it runs",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) =>
      lastUserText(request).includes("tool_result") ? { text: "Slept." } : {
        toolCalls: [{ id: "toolu_sleep", name: "sleep", input: { ms: 60_000, label: "long" } }],
      }
    );
    const env = serverEnv(api.url, await pg.database());
    await using a = await startServerProcess(env);
    await using b = await startServerProcess(env);
    const id = (await request(`${a.url}/v1/conversations`, "POST", {})).body.id;
    const turn = request(`${a.url}/v1/conversations/${id}/messages`, "POST", { content: "sleep" });
    await conversationWhen(b.url, id, (body) => body.status.callsInFlight.length === 1);
    const cancelled = await request(`${b.url}/v1/conversations/${id}/cancel`, "POST");
    assertEquals(cancelled.body, { cancelled: true });
    const result = (await turn).body;
    assertEquals([result.status, result.error.type], ["failed", "cancelled"]);
    assertEquals((await request(`${b.url}/v1/conversations/${id}/cancel`, "POST")).body, {
      cancelled: false,
    });
  },
});

Deno.test({
  name:
    "the library takes a PostgreSQL address or a client of its own, and a conversation outlives the system",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using api = startFakeMessagesApi(() => ({ text: "Kept." }));
    const address = await pg.database();
    let id: string;
    {
      await using agents = await createAgentSystem({
        apiKey: "sk-ant-test",
        baseURL: api.url,
        journal: postgres(address, { max: 2, onnotice: () => {} }),
      });
      const conversation = await agents.createConversation();
      id = conversation.id;
      assertEquals((await conversation.send("Keep this.")).status, "completed");
    }
    await using again = await createAgentSystem({
      apiKey: "sk-ant-test",
      baseURL: api.url,
      journal: address,
    });
    const history = (await again.get(id))?.history;
    assertEquals(history?.map((message) => message.role), ["user", "assistant"]);
  },
});

Deno.test({
  name:
    "a server cut off from PostgreSQL past the TTL stops its running calls; the turn ends when it is back",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi((request) =>
      lastUserText(request).includes("tool_result")
        ? { text: "Recovered." }
        : { toolCalls: [{ id: "toolu_long", name: "sleep", input: { ms: 60_000, label: "long" } }] }
    );
    const env = serverEnv(api.url, await pg.database(), { AGENT_NODE_TTL_MS: "600" });
    await using server = await startServerProcess(env);
    const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
    sendWithoutWaiting(server.url, id, "nap");
    await conversationWhen(server.url, id, (body) => body.status.callsInFlight.length === 1);
    await pg.stop("immediate");
    try {
      await eventually(() =>
        Promise.resolve(server.log().includes("stopped the calls of 1 running turn") || undefined)
      );
    } finally {
      await pg.start();
    }
    const { history }: { history: Anthropic.MessageParam[] } = await conversationWhen(
      server.url,
      id,
      (body) =>
        body.status.state === "idle" && JSON.stringify(body.history.at(-1)).includes("Recovered."),
    );
    const [result] = history[2].content as Anthropic.ToolResultBlockParam[];
    assertEquals([result.tool_use_id, result.is_error], ["toolu_long", true]);
    assertStringIncludes(result.content as string, "Interrupted");
  },
});

Deno.test({
  name: "the PostgreSQL cluster stops",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => await pg[Symbol.asyncDispose](),
});
