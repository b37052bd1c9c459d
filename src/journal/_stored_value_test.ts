import { assert, assertEquals } from "@std/assert";
import {
  deleteOrphans,
  discardValues,
  findOrphans,
  prepareValue,
  readValue,
  storeValue,
  sweepPending,
} from "./_stored_value.ts";

const LARGE = { text: "x".repeat(150_000) }; // three chunks

async function keysOf(kv: Deno.Kv): Promise<string[]> {
  const keys = [];
  for await (const { key } of kv.list({ prefix: [] })) keys.push(JSON.stringify(key));
  return keys;
}

async function commit(kv: Deno.Kv, write: ReturnType<typeof storeValue>): Promise<boolean> {
  const atomic = kv.atomic();
  write.checks.forEach((check) => atomic.check(check));
  return (await atomic.mutate(...write.mutations).commit()).ok;
}

Deno.test("a committed large value leaves its head and chunks, and no pending mark", async () => {
  using kv = await Deno.openKv(":memory:");
  assert(await commit(kv, storeValue(await prepareValue(kv, ["t", "v"], LARGE))));
  assertEquals((await readValue<typeof LARGE>(kv, ["t", "v"]))?.text.length, 150_000);
  assertEquals((await keysOf(kv)).filter((key) => key.includes("pending")), []);
  assertEquals(await findOrphans(kv, ["t"], 2), []);
});

Deno.test("a value whose head is refused is discarded whole by its writer", async () => {
  using kv = await Deno.openKv(":memory:");
  const prepared = await prepareValue(kv, ["v"], LARGE);
  assertEquals((await keysOf(kv)).length, 4, "three chunks and their pending mark");
  await discardValues(kv, [prepared]);
  assertEquals(await keysOf(kv), []);
});

Deno.test("a sweep discards the chunks of a write left pending past the grace, and only those", async () => {
  using kv = await Deno.openKv(":memory:");
  await prepareValue(kv, ["old"], LARGE, 1_000); // its writer died at t=1000
  const recent = await prepareValue(kv, ["recent"], LARGE, 9_000);
  assertEquals(await sweepPending(kv, 10_000, 5_000), 1);
  assertEquals((await keysOf(kv)).filter((key) => key.includes("old")), []);
  // The recent write is still under way, and commits.
  assert(await commit(kv, storeValue(recent)));
  assertEquals((await readValue<typeof LARGE>(kv, ["recent"]))?.text, LARGE.text);
});

Deno.test("a writer so slow that its chunks were swept has its head refused, not pointing at nothing", async () => {
  using kv = await Deno.openKv(":memory:");
  const slow = await prepareValue(kv, ["v"], LARGE, 0);
  assertEquals(await sweepPending(kv, 10_000, 5_000), 1);
  assertEquals(await commit(kv, storeValue(slow)), false);
  assertEquals(await keysOf(kv), []);
});

Deno.test("chunks that older versions left without a head are found and deleted; a write under way is not", async () => {
  using kv = await Deno.openKv(":memory:");
  // As before pending marks: chunks of a replaced value, and of a value never committed.
  await kv.set(["log", "c", 1], { blob: "kept", chunks: 1, bytes: 5 });
  await kv.set(["log", "c", 1, "kept", 0], new TextEncoder().encode('"abc"'));
  await kv.set(["log", "c", 1, "lost", 0], new Uint8Array(10));
  await kv.set(["log", "c", 2, "lost2", 0], new Uint8Array(10));
  const underWay = await prepareValue(kv, ["log", "c", 3], LARGE);
  const orphans = await findOrphans(kv, ["log"], 3);
  assertEquals(orphans.map(({ key }) => key), [["log", "c", 1, "lost", 0], [
    "log",
    "c",
    2,
    "lost2",
    0,
  ]]);
  assertEquals(await deleteOrphans(kv, orphans), 2);
  assertEquals(await findOrphans(kv, ["log"], 3), []);
  assertEquals(await readValue(kv, ["log", "c", 1]), "abc");
  assert(await commit(kv, storeValue(underWay)));
});
