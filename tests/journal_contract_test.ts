/**
 * The journal's contract, run against both backends: Deno KV (in memory)
 * and PostgreSQL (a throw-away cluster the test starts). What the
 * supervisor, tasks, approvals and leases rely on must hold on either.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { deadline } from "@std/async/deadline";
import pg from "postgres";
import type { Journal, LeaseResult } from "../src/journal/journal.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { PgJournal } from "../src/journal/pg_journal.ts";
import { SCHEMA_VERSION } from "../src/journal/pg_schema.ts";
import { JournalUnavailable } from "../src/journal/storage_errors.ts";
import type { JournalRecord } from "../src/journal/records.ts";
import type { TaskRecord } from "../src/journal/tasks.ts";
import { startTestPostgres, type TestPostgres } from "./support/postgres.ts";

type Backend = { name: string; open(): Promise<Journal> };

let postgres: TestPostgres | undefined;
const backends: Backend[] = [
  { name: "Deno KV", open: () => KvJournal.open(":memory:") },
  {
    name: "PostgreSQL",
    async open() {
      postgres ??= await startTestPostgres();
      return await PgJournal.open(await postgres.database());
    },
  },
];

const created = (at = 1000): Extract<JournalRecord, { type: "created" }> => ({
  type: "created",
  modelName: "claude-test",
  tools: ["current_time"],
  at,
});
const started = (text: string, turn = 1): Extract<JournalRecord, { type: "turn_started" }> => ({
  type: "turn_started",
  turn,
  cause: { type: "user_message", messageId: `m${turn}`, text },
  at: 2000 + turn,
});
const ended: JournalRecord = { type: "turn_ended", status: "completed", text: "Done.", at: 3000 };

function leaseOf(result: LeaseResult): string {
  if (!result.ok) throw new Error(`the lease is held by ${result.holder}`);
  return result.lease;
}

function contract(name: string, test: (journal: Journal) => Promise<void>) {
  for (const backend of backends) {
    Deno.test({
      name: `${backend.name}: ${name}`,
      sanitizeResources: false, // the PostgreSQL cluster outlives each test
      sanitizeOps: false,
      async fn() {
        await using journal = await backend.open();
        await test(journal);
      },
    });
  }
}

/** A test of the PostgreSQL journal alone, on a database of its own in the shared cluster. */
function postgresTest(name: string, test: (address: string) => Promise<void>) {
  Deno.test({
    name: `PostgreSQL: ${name}`,
    sanitizeResources: false, // the PostgreSQL cluster outlives each test
    sanitizeOps: false,
    async fn() {
      postgres ??= await startTestPostgres();
      await test(await postgres.database());
    },
  });
}

contract("a conversation is its records, read back as written, each appended once", async (j) => {
  await j.create("c1", created());
  const behind = (await j.load("c1"))!;
  await assertRejects(() => j.create("c1", created()), Error, "exists already");
  assertEquals(await j.append("c1", 0, [started("Hello there"), ended]), 2);
  assertEquals(await j.append("c1", 0, [started("again")]), undefined, "slot 1 is taken");
  const loaded = await j.load("c1");
  assertEquals(loaded?.seq, 2);
  assertEquals((await j.records("c1")).map((r) => r.record), [
    created(),
    started("Hello there"),
    ended,
  ]);
  assertEquals(await j.load("nope"), undefined);
  await j.catchUp("c1", behind);
  assertEquals(behind.seq, 2);
});

contract(
  "the newest conversations are listed first, titled by their first message, with their open turns",
  async (j) => {
    await j.create("old", created(1000));
    await j.create("new", created(5000));
    await j.append("old", 0, [started("Plan the trip to Kyoto")]);
    const listed = await j.list(10);
    assertEquals(listed.map((c) => [c.id, c.title, c.turnOpen]), [
      ["new", "", false],
      ["old", "Plan the trip to Kyoto", true],
    ]);
    assertEquals((await j.list(1)).map((c) => c.id), ["new"]);
    assertEquals([...await j.unfinished()], ["old"]);
    assert(await j.hasWork("old"));
    assert(!await j.hasWork("new"));
  },
);

contract("a lease fences its holder's appends; a lost lease writes nothing", async (j) => {
  await j.create("c1", created());
  await j.heartbeat("n1", 60_000);
  const first = leaseOf(await j.acquireLease("c1", "n1"));
  assertEquals(await j.acquireLease("c1", "n2"), { ok: false, holder: "n1" });
  assertEquals(await j.heldElsewhere("c1", "n2"), "n1");
  assertEquals(await j.append("c1", 0, [started("hi")], { lease: first }), 1);
  await j.forget("n1"); // n1 died: n2 takes over with a new token
  const second = leaseOf(await j.acquireLease("c1", "n2"));
  assert(second !== first);
  assertEquals(await j.append("c1", 1, [ended], { lease: first }), undefined, "fenced");
  assertEquals(await j.append("c1", 1, [ended], { lease: second, releaseLease: true }), 2);
  leaseOf(await j.acquireLease("c1", "n3")); // released, so free
  await j.heartbeat("n3", 60_000);
  await j.releaseLease("c1", second); // stale: changes nothing
  assertEquals(await j.acquireLease("c1", "n4"), { ok: false, holder: "n3" });
});

contract("a turn starts on a free lease in one write, and never on a held one", async (j) => {
  await j.create("c1", created());
  const taken = await j.startTurnTakingLease("c1", "n1", 0, started("hi"));
  assertEquals(taken?.seq, 1);
  await j.heartbeat("n1", 60_000);
  assertEquals(await j.startTurnTakingLease("c1", "n2", 1, started("again", 2)), undefined);
  assertEquals((await j.records("c1")).length, 2, "nothing written by the refused start");
});

contract(
  "an inbox keeps its items in order until a turn consumes them with its records",
  async (j) => {
    await j.create("c1", created());
    const a = await j.enqueue("c1", { type: "user_message", messageId: "a", text: "first" });
    await j.enqueue("c1", { type: "user_message", messageId: "b", text: "second" });
    const inbox = await j.inbox("c1");
    assertEquals(inbox.map((entry) => entry.value), [a.value, inbox[1].value]);
    assertEquals(inbox[0].id, a.id);
    assertEquals([...await j.unfinished()], ["c1"]);
    assertEquals(await j.append("c1", 0, [started("first")], { consume: inbox[0] }), 1);
    assertEquals(
      await j.append("c1", 1, [ended], { consume: inbox[0] }),
      undefined,
      "consumed once",
    );
    assertEquals((await j.inbox("c1")).map((entry) => entry.id), [inbox[1].id]);
    const taken = await j.enqueueTakingLease("c2", "n1", {
      type: "user_message",
      messageId: "c",
      text: "x",
    });
    assert(taken?.lease);
    await j.heartbeat("n1", 60_000);
    assertEquals(
      await j.enqueueTakingLease("c2", "n2", taken!.entry.value),
      undefined,
      "held by n1",
    );
  },
);

contract("a task finishes once, its result waiting in its conversation's inbox", async (j) => {
  const task: TaskRecord = {
    taskId: "t1",
    conversationId: "c1",
    callId: "call1",
    name: "slow",
    reason: "background",
    state: "running",
    node: "n1",
    createdAt: 1000,
  };
  await j.startTask(task);
  assertEquals(await j.runningTasks(), [{ taskId: "t1", node: "n1" }]);
  const finished = await j.finishTask("t1", { state: "succeeded", content: "42" });
  assertEquals(finished?.state, "succeeded");
  assertEquals(await j.finishTask("t1", { state: "failed", content: "late" }), undefined);
  assertEquals((await j.task("t1"))?.result, "42");
  assertEquals(await j.runningTasks(), []);
  assertEquals((await j.inbox("c1")).map((entry) => entry.value), [{
    type: "task_result",
    taskId: "t1",
  }]);
  const handedOff = {
    ...task,
    taskId: "t2",
    node: undefined,
    reason: "handed_off" as const,
    expiresAt: 5000,
  };
  await j.startTask(handedOff);
  assertEquals(await j.expiredTasks(4000), []);
  assertEquals((await j.expiredTasks(6000)).map((t) => t.taskId), ["t2"]);
  await j.finishTask("t2", { state: "timed_out", content: "no result in time" });
  assertEquals(await j.expiredTasks(6000), []);
  assertEquals(await j.task("none"), undefined);
});

contract("a call is decided once", async (j) => {
  assert(await j.decide("c1", "call1", { approved: true }));
  assert(!await j.decide("c1", "call1", { approved: false, reason: "late" }));
  assertEquals(await j.decisionOf("c1", "call1"), { approved: true });
  assertEquals(await j.decisionOf("c1", "call2"), undefined);
});

contract(
  "a value saved aside replaces the old one whole, and its index lists newest first",
  async (j) => {
    await j.saveAside("task", "a", { big: "x".repeat(200_000) }, [["by_time", 1, "a"]]);
    await j.saveAside("task", "b", { n: 2 }, [["by_time", 2, "b"], ["by_ctx", "ctx1", 2, "b"]]);
    await j.saveAside("task", "c", { n: 3 }, [["by_time", 3, "c"]]);
    await j.saveAside("task", "a", { n: 1 }, [["by_time", 1, "a"]]);
    assertEquals(await j.readAside("task", "a"), { n: 1 });
    assertEquals(await j.readAside("task", "none"), undefined);
    assertEquals(await j.indexKeys(["by_time"]), [["by_time", 3, "c"], ["by_time", 2, "b"], [
      "by_time",
      1,
      "a",
    ]]);
    assertEquals(await j.indexKeys(["by_time"], { limit: 1 }), [["by_time", 3, "c"]]);
    assertEquals(await j.indexKeys(["by_time"], { before: ["by_time", 3, "c"] }), [
      ["by_time", 2, "b"],
      ["by_time", 1, "a"],
    ]);
    assertEquals(await j.indexKeys(["by_ctx", "ctx1"]), [["by_ctx", "ctx1", 2, "b"]]);
  },
);

contract("a process is alive while its heartbeat lasts", async (j) => {
  await j.heartbeat("n1", 60_000);
  assert(await j.isAlive("n1"));
  assert(!await j.isAlive("n2"), "never beat");
  await j.forget("n1");
  assert(!await j.isAlive("n1"));
});

postgresTest(
  "a database whose journal schema is newer than the code is refused, and left as it is",
  async (address) => {
    await (await PgJournal.open(address)).close();
    const sql = pg(address, { onnotice: () => {} });
    try {
      await sql`update agent_journal_schema set version = ${SCHEMA_VERSION + 1}`;
      const error = await assertRejects(() => PgJournal.open(address), JournalUnavailable);
      assertStringIncludes(
        error.message,
        `schema is version ${SCHEMA_VERSION + 1}, newer than this runtime's`,
      );
      assertEquals(
        (await sql`select version from agent_journal_schema`)[0].version,
        SCHEMA_VERSION + 1,
      );
    } finally {
      await sql.end();
    }
  },
);

postgresTest(
  "a watch whose connection was cut says, once it is back, that it may have missed changes, and hears again",
  async (address) => {
    await using listening = await PgJournal.open(address);
    await using writing = await PgJournal.open(address);
    const missed = Promise.withResolvers<void>();
    const heard = Promise.withResolvers<string>();
    await using _watch = await listening.watch((change) => {
      if (change.kind === "missed") missed.resolve();
      else if (change.kind === "log") heard.resolve(change.conversationId);
    });
    const sql = pg(address, { onnotice: () => {} });
    try {
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where query ilike 'listen %' and pid <> pg_backend_pid()`;
    } finally {
      await sql.end();
    }
    await writing.create("c1", created());
    await deadline(missed.promise, 20_000); // fails, rather than hangs, if it is never said
    await writing.append("c1", 0, [started("Still there?")]);
    assertEquals(await heard.promise, "c1");
  },
);

Deno.test({
  name: "the PostgreSQL cluster stops",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await postgres?.[Symbol.asyncDispose]();
  },
});
