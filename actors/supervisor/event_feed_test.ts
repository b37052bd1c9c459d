import { assert, assertEquals } from "@std/assert";
import { countingKv } from "../../tests/support/counting_kv.ts";
import type { ConversationEvent } from "../../src/events.ts";
import { KvJournal } from "../../src/journal/kv_journal.ts";
import { EVENT_ID_STRIDE } from "../../src/journal/record_events.ts";
import { EventFeed } from "./event_feed.ts";

Deno.test("event ids follow the journal's seq and count up from it; listeners get each event once", async () => {
  await using journal = await KvJournal.open(":memory:");
  const feed = new EventFeed(journal, "c1");
  const heard: ConversationEvent[] = [];
  const unsubscribe = feed.subscribe((event) => heard.push(event));
  feed.emit({ type: "model_call_started", step: 1 }, 3);
  feed.emit({ type: "text_delta", text: "Hi" }, 3);
  feed.emit({ type: "model_call_started", step: 2 }, 5);
  unsubscribe();
  feed.emit({ type: "text_delta", text: "unheard" }, 5);
  assertEquals(heard.map((event) => event.id), [
    3 * EVENT_ID_STRIDE,
    3 * EVENT_ID_STRIDE + 1,
    5 * EVENT_ID_STRIDE,
  ]);
  assertEquals(heard.every((event) => event.conversationId === "c1"), true);
  assertEquals(feed.watched, false);
  // A client that reconnects after the second event gets the rest from memory.
  const after = await Array.fromAsync(feed.eventsAfter(heard[1].id));
  assertEquals(after.map((event) => event.type), ["model_call_started", "text_delta"]);
});

Deno.test("a call is in flight from queued to finished, with its state and retry attempt", async () => {
  await using journal = await KvJournal.open(":memory:");
  const feed = new EventFeed(journal, "c1");
  const call = { callId: "toolu_1", name: "fetch_url" };
  feed.emit({
    type: "tool_call_queued",
    ...call,
    input: {},
    waitingFor: "worker",
    priority: "normal",
  }, 1);
  assertEquals(feed.callsInFlight.map((c) => [c.callId, c.state]), [["toolu_1", "queued"]]);
  feed.emit({ type: "tool_call_started", ...call, input: {} }, 2);
  feed.emit(
    { type: "tool_call_retrying", ...call, attempt: 2, attempts: 3, previous: "failed" },
    2,
  );
  assertEquals(feed.callsInFlight.map((c) => [c.state, c.attempt]), [["running", 2]]);
  feed.emit({ type: "tool_call_finished", ...call, status: "succeeded", ms: 5, content: "ok" }, 3);
  assertEquals(feed.callsInFlight, []);
});

Deno.test("a replay from the journal sends its first events before it has read the rest", async () => {
  const counted = countingKv(await Deno.openKv(":memory:"));
  await using journal = new KvJournal(counted.kv);
  await journal.create("c1", { type: "created", modelName: "claude-test", tools: [], at: 0 });
  const text = "x".repeat(300_000);
  for (let turn = 1; turn <= 20; turn++) {
    const cause = { type: "user_message" as const, messageId: `m${turn}`, text };
    await journal.append("c1", turn - 1, [{ type: "turn_started", turn, cause, at: turn }]);
  }
  const before = counted.bytesRead();
  const replay = new EventFeed(journal, "c1").eventsAfter(0);
  const first = await replay.next();
  assertEquals(first.value?.type, "turn_started");
  const read = counted.bytesRead() - before;
  assert(read < 1_000_000, `read ${read} bytes of 6 MB before the first event`);
  assertEquals((await Array.fromAsync(replay)).length, 19);
});

/** A conversation whose turn asked for `lookup` (call toolu_1), in a fresh journal, at seq 2. */
async function turnWithCall(journal: KvJournal) {
  await journal.create("c1", { type: "created", modelName: "claude-test", tools: [], at: 0 });
  const cause = { type: "user_message" as const, messageId: "m1", text: "Look it up" };
  const toolUse = { type: "tool_use", id: "toolu_1", name: "lookup", input: {} };
  const usage = { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 };
  await journal.append("c1", 0, [
    { type: "turn_started", turn: 1, cause, at: 10 },
    { type: "assistant", content: [toolUse] as never, stopReason: "tool_use", usage, at: 20 },
  ]);
}

Deno.test("a feed that reads a conversation mid-turn (another server drives it) has its running call in flight", async () => {
  await using journal = await KvJournal.open(":memory:");
  await turnWithCall(journal);
  await journal.append("c1", 2, [
    { type: "call", callId: "toolu_1", state: "running", attempts: 2, at: 30 },
  ]);
  const feed = new EventFeed(journal, "c1");
  const { state, seq } = (await journal.load("c1"))!;
  feed.loaded(state, seq);
  assertEquals(feed.callsInFlight, [
    { callId: "toolu_1", name: "lookup", state: "running", since: 30, attempt: 2 },
  ]);
});

Deno.test("a relayed event goes out between the records it came between, though they are read at once", async () => {
  await using journal = await KvJournal.open(":memory:");
  await turnWithCall(journal);
  const feed = new EventFeed(journal, "c1");
  const { state, seq } = (await journal.load("c1"))!;
  feed.loaded(state, seq);
  const heard: ConversationEvent[] = [];
  feed.subscribe((event) => heard.push(event));
  const call = { callId: "toolu_1", name: "lookup" };
  const progress = { type: "tool_call_progress", ...call, text: "half way" } as const;
  feed.remote([{ ...progress, conversationId: "c1", id: 3 * EVENT_ID_STRIDE + 1, at: 35 }]);
  const reported = { content: "42", isError: false };
  feed.foreign([
    { seq: 3, record: { type: "call", callId: "toolu_1", state: "running", at: 30 } },
    { seq: 4, record: { type: "call", ...call, state: "succeeded", reported, at: 40 } },
  ]);
  assertEquals(heard.map((event) => [event.id, event.type]), [
    [3 * EVENT_ID_STRIDE, "tool_call_started"],
    [3 * EVENT_ID_STRIDE + 1, "tool_call_progress"],
    [4 * EVENT_ID_STRIDE, "tool_call_finished"],
  ]);
});
