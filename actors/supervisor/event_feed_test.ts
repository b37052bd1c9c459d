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
