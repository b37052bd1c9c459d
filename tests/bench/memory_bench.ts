/**
 * Memory over a long life: 10,000 conversations driven one after another
 * through one system (journal in a file, the real SDK against the fake
 * Messages API). Idle conversations are evicted, so RSS stays flat.
 *
 * `deno run -A tests/bench/memory_bench.ts [count]`
 *
 * @module
 */
import { startFakeMessagesApi } from "../support/fake_messages_api.ts";
import { lastUserText, testSystem } from "../support/test_system.ts";
import { KvJournal } from "../../src/journal/kv_journal.ts";

const COUNT = Number(Deno.args[0] ?? 10_000);
const STEP = COUNT / 10;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

await using api = startFakeMessagesApi((request) => ({ text: `Echo ${lastUserText(request)}` }));
const journal = await KvJournal.open(`${await Deno.makeTempDir()}/journal.kv`);
// Defaults as a server has them, but for the 30 s "recently used" guard, which this
// loop would outrun: a conversation here is never used again once its turn ended.
await using system = await testSystem(api, {}, { journal, evictAfterMs: 0 });

const rows: string[][] = [];
const started = performance.now();
for (let i = 1; i <= COUNT; i++) {
  const conversation = await system.createConversation();
  await conversation.send({ type: "user_message", text: `hello ${i}` });
  api.requests.length = 0; // the fake records every request; only the runtime is measured
  if (i % STEP === 0) {
    await system.sweep(); // where eviction happens, as every second in a server
    const { rss, heapUsed } = Deno.memoryUsage();
    rows.push([String(i), mb(rss), mb(heapUsed), String(system.loaded)]);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `\nMemory: ${COUNT} conversations one after another (${(COUNT / seconds).toFixed(0)} turns/s)`,
);
console.log(
  "| conversations | RSS | JS heap used | loaded supervisors |\n| --- | --- | --- | --- |",
);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
