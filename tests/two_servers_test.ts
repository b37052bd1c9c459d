import { assertEquals } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { journaledServerEnv, request, startServerProcess } from "./support/server_process.ts";
import { lastUserText } from "./support/test_system.ts";

// Two server processes on one journal file, as two instances behind a load
// balancer run: SQLite contention between them must never reach a client.

Deno.test("60 messages at once to one conversation through two servers: every answer is 200 or 409, and every 200 is in the history", async () => {
  await using api = startFakeMessagesApi((request) => ({
    text: `Answered ${lastUserText(request).match(/message \d+/)?.[0]}.`,
  }));
  const env = await journaledServerEnv(api.url);
  await using a = await startServerProcess(env);
  await using b = await startServerProcess(env);
  const create = async (url: string) =>
    (await request(`${url}/v1/conversations`, "POST", {})).body.id as string;
  const shared = await create(a.url);
  // Each server also drives conversations of its own, so both write all the time.
  const own = await Promise.all(
    Array.from({ length: 20 }, (_, i) => create(i % 2 ? b.url : a.url)),
  );
  const send = (url: string, id: string, i: number) =>
    request(`${url}/v1/conversations/${id}/messages`, "POST", { content: `message ${i}` });
  const [replies, ownReplies] = await Promise.all([
    Promise.all(Array.from({ length: 60 }, (_, i) => send(i % 2 ? b.url : a.url, shared, i))),
    Promise.all(own.map((id, i) => send(i % 2 ? b.url : a.url, id, i))),
  ]);
  assertEquals(ownReplies.map((reply) => reply.status), own.map(() => 200));
  const statuses = replies.map((reply) => reply.status);
  assertEquals(statuses.filter((status) => status !== 200 && status !== 409), []);
  const answered = replies.filter((reply) => reply.status === 200);
  for (const reply of answered) assertEquals(reply.body.status, "completed");
  const { body } = await request(`${a.url}/v1/conversations/${shared}`, "GET");
  const history = body.history as Anthropic.MessageParam[];
  const asked = history.filter((message) => message.role === "user");
  assertEquals(asked.length, answered.length, "one user message per accepted message");
  assertEquals(history.length, answered.length * 2);
});

Deno.test("two busy servers with a short TTL: neither takes the other's conversations, and every tool result is recorded", async () => {
  await using api = startFakeMessagesApi((request) => {
    if (lastUserText(request).includes("tool_result")) return { text: "Looked up." };
    return {
      toolCalls: ["a", "b", "c"].map((key) => ({ name: "lookup", input: { ms: 100, key } })),
    };
  });
  const env = await journaledServerEnv(api.url, { AGENT_NODE_TTL_MS: "2000" });
  await using a = await startServerProcess(env);
  await using b = await startServerProcess(env);
  const servers = [a.url, b.url];
  const ids = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => ({
      url: servers[i % 2],
      id: (await request(`${servers[i % 2]}/v1/conversations`, "POST", {})).body.id as string,
    })),
  );
  const replies = await Promise.all(
    ids.map(({ url, id }) =>
      request(`${url}/v1/conversations/${id}/messages`, "POST", { content: "Look up a, b, c." })
    ),
  );
  assertEquals(replies.map((reply) => reply.status), replies.map(() => 200));
  for (const { url, id } of ids) {
    const { body } = await request(`${url}/v1/conversations/${id}`, "GET");
    const results = (body.history as Anthropic.MessageParam[])[2]
      .content as Anthropic.ToolResultBlockParam[];
    assertEquals(
      results.map((result) => [result.content, result.is_error ?? false]),
      [["value of a", false], ["value of b", false], ["value of c", false]],
      `conversation ${id}`,
    );
    assertEquals(body.history.length, 4);
  }
});
