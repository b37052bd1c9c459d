/**
 * `deno task bench`, what prompt caching saves: the billed input tokens of
 * one 20-step tool loop with a 4,000-token system prompt, with caching off
 * and on (the default), against the fake Messages API caching as the API
 * does. Cache writes bill at 1.25 input tokens, reads at 0.1.
 *
 * `deno run -A tests/bench/cache_bench.ts`
 *
 * @module
 */
import { startFakeMessagesApi } from "../support/fake_messages_api.ts";
import { createAgentSystem } from "../../mod.ts";
import type { TokenUsage } from "../../src/token_usage.ts";

const STEPS = 20;
/** About 4,000 tokens (4 characters a token, as the fake counts). */
const SYSTEM = `You are a careful assistant. ${"Follow the house rules closely. ".repeat(500)}`;
const TOOLS = new URL("./tools/", import.meta.url).pathname;

/** The input tokens a usage is billed for. */
function billed({ inputTokens, cacheReadTokens, cacheWriteTokens }: TokenUsage): number {
  return inputTokens + 1.25 * cacheWriteTokens + 0.1 * cacheReadTokens;
}

/** The usage of one loop of `STEPS` tool calls and an answer. */
async function loop(promptCache: "5m" | "off"): Promise<TokenUsage> {
  await using api = startFakeMessagesApi(
    (request) =>
      request.body.messages.length < 2 * STEPS
        ? { toolCalls: [{ name: "wait", input: { ms: 1 } }] }
        : { text: "Done." },
    { promptCache: {} },
  );
  await using agents = await createAgentSystem({
    apiKey: "bench",
    baseURL: api.url,
    promptCache,
    tools: [TOOLS],
    maxSteps: STEPS + 1,
  });
  const conversation = await agents.createConversation({ system: SYSTEM });
  const result = await conversation.send("Check the time twenty times.");
  if (result.status !== "completed" || result.steps !== STEPS + 1) {
    throw new Error(`The loop did not run as planned: ${JSON.stringify(result)}`);
  }
  return result.usage;
}

const off = await loop("off");
const on = await loop("5m");
const n = (count: number) => Math.round(count).toLocaleString("en-US");
const rows = [
  ["", "input", "cache written", "cache read", "billed input", "of uncached"],
  ...([["caching off", off], ["caching on (5m)", on]] as const).map(([name, usage]) => [
    name,
    n(usage.inputTokens),
    n(usage.cacheWriteTokens),
    n(usage.cacheReadTokens),
    n(billed(usage)),
    `${Math.round((billed(usage) / billed(off)) * 100)}%`,
  ]),
];
console.log(
  `\nPrompt caching: billed input tokens of one ${STEPS}-step tool loop, 4,000-token system prompt (writes 1.25×, reads 0.1×)\n`,
);
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
for (const cells of rows) console.log(cells.map((cell, i) => cell.padEnd(widths[i])).join("   "));
