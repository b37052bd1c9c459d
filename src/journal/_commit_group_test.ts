import { assert, assertEquals } from "@std/assert";
import { CommitGroup, type KvWrite, type WriteResult } from "./_commit_group.ts";

const create = (key: Deno.KvKey, value: unknown = 1): KvWrite => ({
  checks: [{ key, versionstamp: null }],
  mutations: [{ type: "set", key, value }],
});

const versionstamps = (results: WriteResult[]) =>
  results.map((result) => result.ok ? result.versionstamp : "failed");

Deno.test("writes that wait behind a commit under way go together in the next one", async () => {
  using kv = await Deno.openKv(":memory:");
  const group = new CommitGroup(kv);
  const [first, ...waiting] = await Promise.all(
    ["a", "b", "c"].map((name) => group.commit(create([name]))),
  );
  const [a] = versionstamps([first]);
  const [b, c] = versionstamps(waiting);
  assert(a !== "failed" && b !== "failed");
  assert(b !== a, "the first write did not wait");
  assertEquals(c, b, "b and c share one commit");
  assertEquals((await kv.get(["c"])).versionstamp, c);
});

Deno.test("a write whose own check fails fails alone; its group commits", async () => {
  using kv = await Deno.openKv(":memory:");
  await kv.set(["taken"], 0);
  const group = new CommitGroup(kv);
  const results = await Promise.all(
    [["first"], ["taken"], ["free"]].map((key) => group.commit(create(key))),
  );
  assertEquals(results.map((result) => result.ok), [true, false, true]);
  assertEquals((await kv.get(["taken"])).value, 0);
  assertEquals((await kv.get(["free"])).value, 1);
});

Deno.test("two writes on one key never share a commit: the second sees the first", async () => {
  using kv = await Deno.openKv(":memory:");
  const group = new CommitGroup(kv);
  const results = await Promise.all([
    group.commit(create(["busy"])),
    group.commit(create(["x"], "first")),
    group.commit(create(["x"], "second")),
  ]);
  assertEquals(results.map((result) => result.ok), [true, true, false]);
  assertEquals((await kv.get(["x"])).value, "first");
});

Deno.test("a crowd of writes is split under Deno KV's limits of one commit", async () => {
  using kv = await Deno.openKv(":memory:");
  const group = new CommitGroup(kv);
  const results = await Promise.all(
    Array.from({ length: 250 }, (_, i) => group.commit(create(["n", i], "x".repeat(5_000)))),
  );
  assert(results.every((result) => result.ok));
  const commits = new Set(versionstamps(results));
  assert(commits.size >= 3 && commits.size < 250, `${commits.size} commits`);
  assertEquals((await Array.fromAsync(kv.list({ prefix: ["n"] }))).length, 250);
});
