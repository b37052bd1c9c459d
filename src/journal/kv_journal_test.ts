import { assert, assertEquals } from "@std/assert";
import { KvJournal } from "./kv_journal.ts";
import type { JournalRecord } from "./records.ts";
import type { InboxItem, TaskRecord } from "./tasks.ts";
import { countingKv } from "../../tests/support/counting_kv.ts";

/** Large enough to be stored in chunks. */
const BIG = "x".repeat(300_000);

const created: Extract<JournalRecord, { type: "created" }> = {
  type: "created",
  modelName: "claude-test",
  tools: [],
  at: 0,
};
const started = (text: string): Extract<JournalRecord, { type: "turn_started" }> => ({
  type: "turn_started",
  turn: 1,
  cause: { type: "user_message", messageId: crypto.randomUUID(), text },
  at: 0,
});

async function keyCount(journal: KvJournal): Promise<number> {
  let count = 0;
  for await (const _ of journal.kv.list({ prefix: [] })) count++;
  return count;
}

/** Runs `write`, which must change nothing, and checks that it left no key behind. */
async function assertLeavesNothing(journal: KvJournal, write: () => Promise<unknown>) {
  const before = await keyCount(journal);
  await write();
  assertEquals(await keyCount(journal), before, "no key was added");
  assertEquals(await journal.orphans(), []);
}

async function runningTask(journal: KvJournal, taskId: string): Promise<void> {
  await journal.create("c", created);
  const task: TaskRecord = {
    taskId,
    conversationId: "c",
    callId: "toolu_1",
    name: "hand_off",
    reason: "handed_off",
    state: "running",
    createdAt: 0,
  };
  await journal.startTask(task);
}

Deno.test("a task result delivered again writes nothing, however large", async () => {
  await using journal = await KvJournal.open(":memory:");
  await runningTask(journal, "t1");
  assert(await journal.finishTask("t1", { state: "succeeded", content: BIG }));
  for (let i = 0; i < 5; i++) {
    await assertLeavesNothing(journal, async () => {
      assertEquals(await journal.finishTask("t1", { state: "succeeded", content: BIG }), undefined);
    });
  }
  await assertLeavesNothing(
    journal,
    () => journal.finishTask("nope", { state: "failed", content: BIG }),
  );
});

Deno.test("writes refused for a held lease or a taken slot leave no chunk behind", async () => {
  await using journal = await KvJournal.open(":memory:");
  await journal.create("c", created);
  const holder = await journal.acquireLease("c", "node-a");
  assert(holder.ok);
  const item: InboxItem = { type: "user_message", messageId: "m", text: BIG };
  await assertLeavesNothing(journal, async () => {
    assertEquals(await journal.enqueueTakingLease("c", "node-b", item), undefined);
  });
  await assertLeavesNothing(journal, async () => {
    assertEquals(await journal.startTurnTakingLease("c", "node-b", 0, started(BIG)), undefined);
  });
  await assertLeavesNothing(journal, async () => {
    assertEquals(
      await journal.append("c", 0, [started(BIG)], { lease: "00000000000000010000" }),
      undefined,
    );
  });
  await assertLeavesNothing(journal, async () => {
    await journal.create("c", created).catch(() => {});
  });
});

Deno.test("an inbox item taken into a turn is deleted with its chunks", async () => {
  await using journal = await KvJournal.open(":memory:");
  await journal.create("c", created);
  const before = await keyCount(journal);
  const entry = await journal.enqueue("c", { type: "user_message", messageId: "m", text: BIG });
  assert(await keyCount(journal) > before + 2, "the message is stored in chunks");
  assertEquals(await journal.append("c", 0, [started(BIG)], { consume: entry }), 1);
  assertEquals(await journal.inbox("c"), []);
  assertEquals(await journal.orphans(), []);
  const inboxKeys = await Array.fromAsync(journal.kv.list({ prefix: ["inbox"] }));
  assertEquals(inboxKeys, []);
});

Deno.test("the chunk sweep removes the leftovers of an older version once, and a dead writer's after the grace", async () => {
  await using journal = await KvJournal.open(":memory:");
  await journal.create("c", created);
  await journal.kv.set(["log", "c", 7, "an-old-blob", 0], new Uint8Array(60_000)); // an old leak
  const now = Date.now();
  await journal.kv.set(["pending_blob", "dead"], { key: ["log", "c", 8], chunks: 1, at: now });
  await journal.kv.set(["log", "c", 8, "dead", 0], new Uint8Array(60_000)); // its writer died
  assertEquals((await journal.orphans()).length, 1, "the old leak; the dead write is pending");
  assertEquals(await journal.sweepChunks(now), 1);
  assertEquals(await journal.sweepChunks(now + 11 * 60_000), 1);
  assertEquals(await journal.orphans(), []);
  assertEquals(await Array.fromAsync(journal.kv.list({ prefix: ["pending_blob"] })), []);
  assertEquals(await journal.records("c").then((records) => records.length), 1);
});

Deno.test("listing the newest conversations reads only what it returns, however large the others are", async () => {
  const counted = countingKv(await Deno.openKv(":memory:"));
  await using journal = new KvJournal(counted.kv);
  for (let i = 0; i < 30; i++) {
    const id = `c${String(i).padStart(2, "0")}`;
    await journal.create(id, { ...created, at: i });
    await journal.append(id, 0, [started(`message ${i} ${BIG}`)]);
  }
  const before = counted.bytesRead();
  const listed = await journal.list(3);
  assertEquals(listed.map(({ id, createdAt }) => [id, createdAt]), [["c29", 29], ["c28", 28], [
    "c27",
    27,
  ]]);
  assertEquals(listed[0].title, `message 29 ${"x".repeat(120 - 11)}`);
  assert(counted.bytesRead() - before < 2_000, `read ${counted.bytesRead() - before} bytes`);
});

Deno.test("conversations written before the listing index are indexed, with titles, when the journal opens", async () => {
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  {
    await using journal = await KvJournal.open(path);
    await journal.create("old", { ...created, at: 5 });
    await journal.append("old", 0, [started("An old question")]);
    // As older versions left it: no index entry, no title.
    await journal.kv.delete(["by_time", 5, "old"]);
    await journal.kv.delete(["meta", "listing_indexed"]);
    assertEquals(await journal.list(10), []);
  }
  await using reopened = await KvJournal.open(path);
  assertEquals(await reopened.list(10), [{
    id: "old",
    createdAt: 5,
    title: "An old question",
    turnOpen: true,
  }]);
});
