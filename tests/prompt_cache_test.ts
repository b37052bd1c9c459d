/**
 * Prompt caching is on by default: each request marks the tools, the system
 * prompt and the end of the history, so each step reads what the one before
 * wrote, also after a restart. Against a fake Messages API that caches as the
 * API does (prefixes up to breakpoints, a 20-block lookback, a minimum length).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type FakeScript, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { testSystem } from "./support/test_system.ts";
import { startTestServer } from "./support/test_server.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { AnthropicModel } from "../src/model/anthropic_model.ts";
import { cacheHitRate, describeUsage } from "../src/token_usage.ts";

/** About 4,000 tokens of instructions, as a real agent's system prompt has. */
const SYSTEM = `You are a careful assistant. ${"Follow the house rules closely. ".repeat(500)}`;

/** Five steps that each ask for the time, then an answer. */
const fiveSteps: FakeScript = (request) =>
  request.body.messages.length < 10
    ? { toolCalls: [{ name: "current_time", input: {} }] }
    : { text: "It is late." };

const EPHEMERAL = { type: "ephemeral", ttl: "5m" };

Deno.test("each step of a turn reads from the cache what the step before wrote; the breakpoints sit on the tools, the system prompt and the history's end", async () => {
  await using api = startFakeMessagesApi(fiveSteps, { promptCache: {} });
  await using system = await testSystem(api);
  const conversation = await system.createConversation({ system: SYSTEM });
  const result = await conversation.send("What time is it?");
  assertEquals([result.status, result.steps], ["completed", 6]);
  for (const { body } of api.requests) {
    const request = body as unknown as {
      cache_control: unknown;
      system: { cache_control?: unknown }[];
      tools: { cache_control?: unknown }[];
    };
    assertEquals(request.cache_control, EPHEMERAL, "the history's end, rolling");
    assertEquals(request.system.map((block) => block.cache_control), [EPHEMERAL]);
    assertEquals(request.tools.at(-1)!.cache_control, EPHEMERAL);
    assertEquals(request.tools.slice(0, -1).some((tool) => tool.cache_control), false);
  }
  // Step 1 writes the prefix; each later step reads all that came before it.
  assertEquals(result.usage.cacheReadTokens > 5 * 4000, true, describeUsage(result.usage));
  assert(cacheHitRate(result.usage)! > 0.75, describeUsage(result.usage));
  assertStringIncludes(describeUsage(result.usage), "% of the prompt from cache");
});

Deno.test("after a restart the first request reads the cache the last process wrote: tools and system in the same order", async () => {
  await using api = startFakeMessagesApi(fiveSteps, { promptCache: {} });
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(path) });
    const conversation = await system.createConversation({ system: SYSTEM });
    id = conversation.id;
    assertEquals((await conversation.send("What time is it?")).status, "completed");
  }
  await using restarted = await testSystem(api, {}, { journal: await KvJournal.open(path) });
  const conversation = (await restarted.get(id))!;
  const before = api.requests.length;
  const result = await conversation.send("And now?");
  assertEquals(result.status, "completed");
  const namesIn = (n: number) => JSON.stringify(api.requests[n].body.tools);
  assertEquals(namesIn(before), namesIn(0), "the same tools, in the same order");
  assert(result.usage.cacheReadTokens > 4000, describeUsage(result.usage));
});

Deno.test("GET /v1/conversations/:id shows the conversation's cache hit rate", async () => {
  await using api = startFakeMessagesApi(fiveSteps, { promptCache: {} });
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const conversation = await system.createConversation({ system: SYSTEM });
  const fresh = await (await fetch(`${server.url}/v1/conversations/${conversation.id}`)).json();
  assertEquals(fresh.cacheHitRate, null);
  await conversation.send("What time is it?");
  const read = await (await fetch(`${server.url}/v1/conversations/${conversation.id}`)).json();
  assertEquals(read.cacheHitRate, cacheHitRate(conversation.usage));
  assert(read.cacheHitRate > 0.75);
});

Deno.test("with prompt caching off no request carries a breakpoint, and nothing is read from the cache", async () => {
  await using api = startFakeMessagesApi(fiveSteps, { promptCache: {} });
  await using system = await testSystem(api, {
    model: new AnthropicModel({ apiKey: "sk-ant-test", baseURL: api.url, promptCache: "off" }),
  });
  const conversation = await system.createConversation({ system: SYSTEM });
  const result = await conversation.send("What time is it?");
  assertEquals(result.status, "completed");
  assertEquals(
    api.requests.some(({ body }) => JSON.stringify(body).includes("cache_control")),
    false,
  );
  assertEquals(result.usage.cacheReadTokens, 0);
});

Deno.test("caching and compaction work together: after each compaction the shorter prefix is cached again", async () => {
  const window = 3_000;
  await using api = startFakeMessagesApi(
    () => ({ text: `Noted, ${"and so on ".repeat(25)}` }),
    { contextWindow: window, promptCache: { minTokens: 100 } },
  );
  await using system = await testSystem(api, {
    compaction: { enabled: true, windowTokens: window },
  });
  const conversation = await system.createConversation({ tools: [] });
  const reads: number[] = [];
  for (let n = 1; n <= 40; n++) {
    const result = await conversation.send(`Message ${n}: ${"a number ".repeat(40)}`);
    assertEquals(result.status, "completed", `turn ${n}`);
    reads.push(result.usage.cacheReadTokens);
  }
  const compactions = api.requests.filter((request) => "compaction" in request.body).length;
  assert(compactions >= 3, `compacted ${compactions} times`);
  // Nearly every turn read its prefix from the cache, those right after a compaction too.
  assert(reads.filter((read) => read > 0).length >= 30, JSON.stringify(reads));
});
