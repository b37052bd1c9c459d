import { assertEquals } from "@std/assert";
import type { ConversationEvent } from "../../src/events.ts";
import { Journal } from "../../src/journal/journal.ts";
import { EVENT_ID_STRIDE } from "../../src/journal/record_events.ts";
import { EventFeed } from "./event_feed.ts";

Deno.test("event ids follow the journal's seq and count up from it; listeners get each event once", async () => {
  await using journal = await Journal.open(":memory:");
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
  const after = await feed.eventsAfter(heard[1].id);
  assertEquals(after.map((event) => event.type), ["model_call_started", "text_delta"]);
});

Deno.test("a call is in flight from queued to finished, with its state and retry attempt", async () => {
  await using journal = await Journal.open(":memory:");
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
