import { assertEquals, assertRejects } from "@std/assert";
import { KvJournal } from "../../src/journal/kv_journal.ts";
import type { JournalRecord } from "../../src/journal/records.ts";
import { ConversationLog, LeaseLost } from "./conversation_log.ts";

const STARTED: JournalRecord = {
  type: "turn_started",
  turn: 1,
  cause: { type: "user_message", messageId: "m1", text: "Hi" },
  at: 1,
};
const ended = (text: string): JournalRecord => ({
  type: "turn_ended",
  status: "completed",
  stopReason: "end_turn",
  text,
});

/** A journal holding one conversation, whose appends are counted by their records. */
async function journalWithConversation(): Promise<
  { journal: KvJournal; id: string; appends: number[]; gate?: Promise<void> } & AsyncDisposable
> {
  const journal = await KvJournal.open(":memory:");
  const id = crypto.randomUUID();
  await journal.create(id, { type: "created", modelName: "claude-x", at: 0 });
  const appends: number[] = [];
  const append = journal.append.bind(journal);
  const fixture = {
    journal,
    id,
    appends,
    /** While set, appends wait for it: a commit under way. */
    gate: undefined as Promise<void> | undefined,
    [Symbol.asyncDispose]: () => journal[Symbol.asyncDispose](),
  };
  journal.append = async (id, seq, records, options) => {
    appends.push(records.length);
    await fixture.gate;
    return append(id, seq, records, options);
  };
  return fixture;
}

async function logOf(journal: KvJournal, id: string, node = "n1", onLost = () => {}) {
  return new ConversationLog(journal, node, (await journal.load(id))!, { onLost });
}

const typesIn = async (journal: KvJournal, id: string) =>
  (await journal.records(id)).map(({ record }) =>
    record.type === "turn_ended" ? `${record.type}:${record.text}` : record.type
  );

Deno.test("ConversationLog: writes asked for while one is under way go together, in order, as one commit", async () => {
  await using fixture = await journalWithConversation();
  const { journal, id, appends } = fixture;
  const log = await logOf(journal, id);
  await log.acquire();
  const underWay = Promise.withResolvers<void>();
  fixture.gate = underWay.promise;
  const first = log.write([STARTED]);
  while (appends.length === 0) await Promise.resolve(); // the first commit has begun
  const second = log.write([ended("a")]);
  const third = log.write([ended("b")]);
  fixture.gate = undefined;
  underWay.resolve();
  await Promise.all([first, second, third]);
  assertEquals(appends, [1, 2]);
  assertEquals(await typesIn(journal, id), [
    "created",
    "turn_started",
    "turn_ended:a",
    "turn_ended:b",
  ]);
  assertEquals(log.seq, 3);
});

Deno.test("ConversationLog: the state runs ahead of the journal; staged records ride with the next write", async () => {
  await using fixture = await journalWithConversation();
  const { journal, id, appends } = fixture;
  const log = await logOf(journal, id);
  await log.acquire();
  log.stage(STARTED);
  assertEquals(log.state.openTurn?.turn, 1, "applied at once");
  assertEquals(appends, [], "not yet written");
  await log.write([ended("done")]);
  assertEquals(appends, [2]);
  assertEquals(log.state.openTurn, undefined);
  assertEquals(await typesIn(journal, id), ["created", "turn_started", "turn_ended:done"]);
});

Deno.test("ConversationLog: once another process took the lease, a write is refused as LeaseLost and what it applied is dropped on refresh", async () => {
  await using fixture = await journalWithConversation();
  const { journal, id } = fixture;
  let lost = 0;
  const mine = await logOf(journal, id, "n1", () => lost++);
  await mine.acquire();
  // n1 keeps no heartbeat, so n2 may take the conversation over.
  const theirs = await logOf(journal, id, "n2");
  assertEquals((await theirs.acquire()).ok, true);
  await theirs.write([STARTED]);
  await assertRejects(() => mine.write([ended("late")]), LeaseLost);
  assertEquals([lost, mine.stale, mine.leaseHeld], [1, true, false]);
  await mine.refresh();
  assertEquals(mine.stale, false);
  assertEquals(mine.state.openTurn?.turn, 1, "what n2 wrote, not what n1 applied");
  assertEquals(await typesIn(journal, id), ["created", "turn_started"]);
});

Deno.test("ConversationLog: a turn starts with the lease taken in one commit, only while the conversation is free", async () => {
  await using fixture = await journalWithConversation();
  const { journal, id } = fixture;
  const log = await logOf(journal, id);
  const cause = { type: "user_message", messageId: "m1", text: "Hi" } as const;
  const begun = await log.startTurnTakingLease(cause);
  assertEquals(log.state.openTurn?.turn, 1, "applied as its commit goes");
  await begun!.durable;
  assertEquals([log.leaseHeld, await typesIn(journal, id)], [true, ["created", "turn_started"]]);
  assertEquals(await log.startTurnTakingLease(cause), undefined, "a turn is open");
  await log.write([ended("ok")], { release: true });
  assertEquals(log.leaseHeld, false, "given back with the turn's end");
  const other = await logOf(journal, id, "n2");
  await (await other.startTurnTakingLease(cause))!.durable; // free again, for anyone
  const late = await log.startTurnTakingLease(cause);
  await assertRejects(() => late!.durable, LeaseLost, "written by another process"); // n2, since
  assertEquals([log.stale, log.leaseHeld], [true, false]);
  await log.refresh();
  assertEquals(log.state.turns, 2, "what n2 wrote, not what n1 applied");
});

Deno.test("ConversationLog: release gives the lease back unless it is still needed by then", async () => {
  await using fixture = await journalWithConversation();
  const { journal, id } = fixture;
  const log = await logOf(journal, id);
  await log.acquire();
  await log.release(() => true);
  assertEquals(log.leaseHeld, true);
  await log.release(() => false);
  assertEquals(log.leaseHeld, false);
  assertEquals((await (await logOf(journal, id, "n2")).acquire()).ok, true);
});
