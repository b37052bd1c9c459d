/**
 * What a tool knows about its call: its conversation, its `tool_use` id,
 * and the metadata the caller attached to the conversation (who the tool
 * acts for), which the model never sees.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { lastUserText, testSystem } from "./support/test_system.ts";
import { postJson, startTestServer } from "./support/test_server.ts";
import { ConfigError } from "../src/config_error.ts";

Deno.test("a tool reads its conversation, its call id and the conversation's metadata; the model never gets the metadata", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result")
      ? { text: "Done." }
      : { toolCalls: [{ id: "toolu_who", name: "whoami", input: {} }] }
  );
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body);
  const metadata = { userId: "u-42", tenant: "acme" };
  const created = await (await post("/v1/conversations", { metadata })).json();
  assertEquals(created.metadata, metadata);
  const turn = await (await post(`/v1/conversations/${created.id}/messages`, { content: "Who?" }))
    .json();
  assertEquals(turn.status, "completed");
  const told = JSON.parse(JSON.parse(lastUserText(api.requests[1]))[0].content);
  assertEquals(told, { conversationId: created.id, callId: "toolu_who", metadata });
  assertEquals(JSON.stringify(api.requests[0].body).includes("u-42"), false);
  // Journaled with the conversation, and shown with it.
  const again = await (await fetch(`${server.url}/v1/conversations/${created.id}`)).json();
  assertEquals(again.metadata, metadata);

  const big = await post("/v1/conversations", { metadata: { blob: "x".repeat(5_000) } });
  assertEquals(big.status, 400);
  assertStringIncludes((await big.json()).error.message, "at most 4096 bytes of JSON");
  await assertRejects(
    () => system.createConversation({ metadata: { blob: "x".repeat(5_000) } }),
    ConfigError,
    "at most 4096 bytes",
  );
});
