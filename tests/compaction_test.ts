/**
 * A conversation that outgrows the context window is compacted, never dead:
 * against a fake Messages API with a small window, which refuses a longer
 * request with the API's 400 "prompt is too long".
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { ConfigError, type ConversationSupervisor, createAgentSystem } from "../mod.ts";
import {
  type FakeScript,
  type RecordedRequest,
  startFakeMessagesApi,
} from "./support/fake_messages_api.ts";
import { failureOf, lastUserText, testSystem } from "./support/test_system.ts";
import { SUMMARIZE } from "../src/model/compaction.ts";
import { SUMMARY_HEADING } from "../src/journal/records.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";

const WINDOW = 3_000;

/** Answers each message at some length; answers a request to summarize with a short summary. */
const chatty: FakeScript = (request) =>
  lastUserText(request).includes("Summarize our conversation")
    ? { text: `Summary: we talked about ${request.body.messages.length} messages of numbers.` }
    : { text: `Noted, ${"and so on ".repeat(25)}` };

const message = (n: number) => `Message ${n}: ${"a number ".repeat(40)}`;

/** The requests that asked for a summary: Claude's own compaction, or the runtime's prompt. */
const summaries = (requests: RecordedRequest[]) =>
  requests.filter((request) =>
    "compaction" in request.body || JSON.stringify(request.body.messages).includes(SUMMARIZE)
  );

/** The compaction block a request sends first, if it does. */
const compactionBlockOf = (request: RecordedRequest) => {
  const [first] = request.body.messages;
  const [block] = Array.isArray(first.content) ? first.content : [];
  return first.role === "assistant" && (block as { type: string }).type === "compaction"
    ? block as unknown as { content: string; encrypted_content: string; signature: string }
    : undefined;
};

/** Sends `turns` messages; each turn must complete. */
async function chat(conversation: ConversationSupervisor, turns: number): Promise<void> {
  for (let n = 1; n <= turns; n++) {
    const result = await conversation.send({ type: "user_message", text: message(n) });
    assertEquals(result.status, "completed", `turn ${n}: ${JSON.stringify(result)}`);
  }
}

Deno.test("a 300-turn conversation against a small window completes every turn, its requests under the window", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  await using system = await testSystem(api, {
    compaction: { enabled: true, windowTokens: WINDOW },
  });
  const conversation = await system.createConversation({ tools: [] });
  await chat(conversation, 300);
  // Compacted before the window was reached: no request was ever refused.
  assertEquals(api.requests.length, 300 + summaries(api.requests).length);
  assert(summaries(api.requests).length >= 10, "compacted again and again");
  // By Claude's own compaction (streamed), its block sent back first as it came: the fake
  // refuses a block changed in any way, and the history it replaced is no longer sent.
  const last = api.requests.at(-1)!;
  const block = compactionBlockOf(last)!;
  assertStringIncludes(block.content, "Summary #");
  assert(
    !JSON.stringify(last.body.messages).includes("Message 1:"),
    "the summarized history stays out",
  );
  // A person still reads the whole history.
  assertEquals(conversation.history.length, 600);
});

Deno.test("where the API refuses Claude's own compaction, the runtime summarizes with a prompt, and asks only once", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW, compaction: false });
  await using system = await testSystem(api, {
    compaction: { enabled: true, windowTokens: WINDOW },
  });
  const conversation = await system.createConversation({ tools: [] });
  await chat(conversation, 40);
  const refused = api.requests.filter((request) => "compaction" in request.body);
  assertEquals(refused.length, 1, "the refusal is remembered");
  assert(summaries(api.requests).length >= 3);
  const last = api.requests.at(-1)!.body.messages;
  assertStringIncludes(JSON.stringify(last[0]), SUMMARY_HEADING);
});

Deno.test("a request the API refuses as too long is compacted and asked again; a restart keeps the summary", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    // The window the runtime believes in is larger: only the API's refusal tells it.
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(path) });
    const conversation = await system.createConversation({ tools: [] });
    id = conversation.id;
    for (let n = 1; n <= 20; n++) {
      const result = await conversation.send({ type: "user_message", text: message(n) });
      assertEquals(result.status, "completed", `turn ${n}`);
    }
  }
  assert(summaries(api.requests).length >= 1);
  await using restarted = await testSystem(api, {}, { journal: await KvJournal.open(path) });
  const conversation = (await restarted.get(id))!;
  const before = summaries(api.requests).length;
  const result = await conversation.send({ type: "user_message", text: message(21) });
  assertEquals(result.status, "completed");
  assertEquals(summaries(api.requests).length, before, "not compacted again");
  assert(compactionBlockOf(api.requests.at(-1)!), "the journaled block is sent after the restart");
});

Deno.test("with compaction off, a conversation that outgrows the window fails its turn with the API's error", async () => {
  await using api = startFakeMessagesApi(chatty, { contextWindow: WINDOW });
  await using system = await testSystem(api, {
    compaction: { enabled: false, windowTokens: WINDOW },
  });
  const conversation = await system.createConversation({ tools: [] });
  for (let n = 1;; n++) {
    const result = await conversation.send({ type: "user_message", text: message(n) });
    if (result.status === "completed") continue;
    assertStringIncludes(failureOf(result).message, "prompt is too long");
    break;
  }
  assertEquals(summaries(api.requests).length, 0);
});

Deno.test("context editing, when asked for, has the API clear old tool results; the journal still holds them", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "current_time", input: {} }] },
    { text: "Done." },
  ]);
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    contextEditing: "clear_tool_uses",
  });
  const conversation = await agents.createConversation();
  const result = await conversation.send("What time is it?");
  assertEquals(result.status, "completed");
  for (const { body, headers } of api.requests) {
    assertEquals(
      (body as unknown as { context_management: unknown }).context_management,
      { edits: [{ type: "clear_tool_uses_20250919" }] },
    );
    assertStringIncludes(headers.get("anthropic-beta") ?? "", "context-management-2025-06-27");
  }
  assertStringIncludes(JSON.stringify(conversation.history), "tool_result");
});

Deno.test("contextEditing refuses what they do not know, saying what they take", async () => {
  await assertRejects(
    () => createAgentSystem({ apiKey: "k", contextEditing: "clear_all" as never }),
    ConfigError,
    'must be "clear_tool_uses" or "off"',
  );
});
