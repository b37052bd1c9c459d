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
import { startTestPostgres } from "./support/postgres.ts";
import { lastUserText } from "./support/test_system.ts";

const SERVE = new URL("../src/http/serve.ts", import.meta.url).pathname;
const pg = await startTestPostgres();

function serverEnv(apiUrl: string, database: string, extra: Record<string, string> = {}) {
  return {
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: apiUrl,
    AGENT_DATA: database,
    ...extra,
  };
}

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
    "PostgreSQL restarting mid-run: requests answer 503 journal_unavailable, then the server heals by itself",
  sanitizeResources: false,
  async fn() {
    await using api = startFakeMessagesApi(() => ({ text: "Hi." }));
    await using server = await startServerProcess(serverEnv(api.url, await pg.database()));
    const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
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
    const turn = await eventually(async () => {
      const sent = await request(`${server.url}/v1/conversations/${id}/messages`, "POST", {
        content: "Still there?",
      });
      return sent.status === 200 ? sent.body : undefined;
    });
    assertEquals(turn.status, "completed");
    assertEquals((await request(`${server.url}/healthz`, "GET")).body.journal, { ok: true });
  },
});

Deno.test({
  name: "the PostgreSQL cluster stops",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => await pg[Symbol.asyncDispose](),
});
