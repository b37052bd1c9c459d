import { assert, assertEquals } from "@std/assert";
import type { ConversationEvent } from "../src/events.ts";
import { STREAMED_LIVE } from "../src/journal/record_events.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { journaledServerEnv, request, startServerProcess } from "./support/server_process.ts";
import { readEvents } from "./support/test_server.ts";
import { lastUserText, nextEvent, recordEvents, testSystem } from "./support/test_system.ts";

const threeTools = (request: { body: { messages: { content: unknown }[] } }) =>
  lastUserText(request).includes("tool_result")
    ? { text: "All done." }
    : { toolCalls: ["a", "b", "c"].map((key) => ({ name: "lookup", input: { ms: 10, key } })) };

/** Sends a message and reads its turn's events as a stream. */
async function streamedTurn(url: string, id: string, content: string) {
  const response = await fetch(`${url}/v1/conversations/${id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ content }),
  });
  return await readEvents(response);
}

/** Reconnects to a conversation's events with `Last-Event-ID`, until `stop` holds. */
async function reconnect(
  url: string,
  id: string,
  lastId: number,
  stop: (e: { type: string }) => boolean,
) {
  const response = await fetch(`${url}/v1/conversations/${id}/events`, {
    headers: { "last-event-id": String(lastId) },
  });
  return await readEvents(response, stop);
}

Deno.test("a client that reconnects with Last-Event-ID gets exactly the events it missed, with the same ids", async () => {
  await using api = startFakeMessagesApi(threeTools);
  await using server = await startServerProcess(await journaledServerEnv(api.url));
  const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
  const seen = await streamedTurn(server.url, id, "Look up three.");
  const cut = seen.findIndex((event) => event.type === "tool_call_finished");
  const missed = await reconnect(server.url, id, seen[cut].id, (e) => e.type === "turn_finished");
  assertEquals(missed.map((event) => event.id), seen.slice(cut + 1).map((event) => event.id));
  assertEquals(missed, seen.slice(cut + 1));
});

Deno.test("event ids keep increasing across a restart, and a reconnect after it replays the turn's end from the journal", async () => {
  await using api = startFakeMessagesApi(threeTools);
  const env = await journaledServerEnv(api.url);
  await using first = await startServerProcess(env);
  const id = (await request(`${first.url}/v1/conversations`, "POST", {})).body.id;
  const before = await streamedTurn(first.url, id, "Look up three.");
  first.child.kill("SIGTERM");
  await first.child.status;

  await using second = await startServerProcess(env);
  const started = before.find((event) => event.type === "tool_call_started")!;
  // The client had seen the turn up to its first call when it lost the server.
  const replayed = await reconnect(second.url, id, started.id, (e) => e.type === "turn_finished");
  assertEquals(
    replayed.filter((event) => event.type === "tool_call_finished").map((event) => event.callId),
    before.filter((event) => event.type === "tool_call_finished").map((event) => event.callId),
  );
  assertEquals(replayed.at(-1)!.type, "turn_finished");
  assert(replayed.every((event) => event.id > started.id));

  const after = await streamedTurn(second.url, id, "Again.");
  const ids = [...before, ...after].map((event) => event.id);
  assertEquals(ids, ids.toSorted((a, b) => a - b), "ids increase across the restart");
  assertEquals(new Set(ids).size, ids.length, "and never repeat");
});

Deno.test("a Last-Event-ID that is not an event id is refused", async () => {
  await using api = startFakeMessagesApi(threeTools);
  await using server = await startServerProcess(await journaledServerEnv(api.url));
  const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
  const response = await fetch(`${server.url}/v1/conversations/${id}/events`, {
    headers: { "last-event-id": "yesterday" },
  });
  assertEquals(response.status, 400);
  assertEquals((await response.json()).error.type, "invalid_request");
});

Deno.test("a client that asks for everything mid-call gets the journal's events and then what is only in memory since (a call's progress)", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result")
      ? { text: "Stopped." }
      : { toolCalls: [{ name: "sleep", input: { ms: 60_000 } }] }
  );
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const progress = nextEvent(conversation, "tool_call_progress");
  const turn = conversation.send("Sleep a minute.");
  const { id } = await progress;
  const everything = await Array.fromAsync(conversation.eventsAfter(0));
  assertEquals(everything.at(-1)?.type, "tool_call_progress");
  assertEquals(everything.at(-1)?.id, id);
  const ids = everything.map((event) => event.id);
  assertEquals(ids, [...new Set(ids)].sort((a, b) => a - b), "in order, none twice");
  conversation.cancel();
  await turn;
});

Deno.test("a replay from the journal gives every event the id and time it had live, and invents none", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result") ? { text: "Paid the small one." } : {
      toolCalls: [
        { name: "pay", input: { amount: 150 } },
        { name: "pay", input: { amount: 5000 } },
        { name: "lookup", input: { ms: 10, key: "a" } },
      ],
    }
  );
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const live = recordEvents(conversation);
  const bothAsked = Promise.withResolvers<void>();
  conversation.subscribe(() => {
    if (live.filter((event) => event.type === "tool_call_awaiting_approval").length === 2) {
      bothAsked.resolve();
    }
  });
  const turn = conversation.send("Pay both, and look one up.");
  await bothAsked.promise;
  const [small, large] = live.filter((event) => event.type === "tool_call_awaiting_approval");
  await conversation.decide(small.callId, { approved: true });
  await conversation.decide(large.callId, { approved: false, reason: "too much" });
  assertEquals((await turn).status, "completed");

  const replayed = await Array.fromAsync(conversation.eventsAfter(0));
  const liveById = new Map(live.map((event) => [event.id, event]));
  const durable = replayed.filter((event) => !STREAMED_LIVE.has(event.type));
  for (const event of durable) assertEquals(event, liveById.get(event.id), "as it was live");
  const types = (events: ConversationEvent[]) =>
    events.filter((event) => !STREAMED_LIVE.has(event.type)).map((event) => event.type);
  // No record stands for these: they are only ever live.
  const liveOnly = ["tool_call_queued", "tool_batch_finished"];
  assertEquals(types(replayed), types(live).filter((type) => !liveOnly.includes(type)));
  const started = replayed.flatMap((event) => event.type === "tool_call_started" ? [event] : []);
  assert(!started.some((event) => event.callId === large.callId), "the denied call never started");
  assert(replayed.every((event) => event.at > 0), "every event has its real time");
});
