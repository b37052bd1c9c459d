import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  conversationWhen,
  crashMidCall,
  finishTimes,
  journaledServerEnv,
  request,
  sleepThenAnswer,
  startServerProcess,
} from "./support/server_process.ts";
import { lastUserText, nextEvent, testSystem } from "./support/test_system.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { deadline } from "@std/async/deadline";

Deno.test("two processes on one journal: the one driving a conversation holds it, the other answers busy, then takes over", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("tool_result")) return { text: "Slept." };
    if (last.includes("sleep please")) {
      return { toolCalls: [{ name: "sleep", input: { ms: 1_500 } }] };
    }
    return { text: `Answered ${last.match(/(hello \w+)/)?.[1]}.` };
  });
  const env = await journaledServerEnv(api.url);
  await using a = await startServerProcess(env);
  await using b = await startServerProcess(env);
  const id = (await request(`${a.url}/v1/conversations`, "POST", {})).body.id;
  const send = (url: string, content: string) =>
    request(`${url}/v1/conversations/${id}/messages`, "POST", { content });

  const running = send(a.url, "sleep please");
  await conversationWhen(a.url, id, (body) => body.status.state === "running");
  const busy = await send(b.url, "hello from b");
  assertEquals(busy.status, 409);
  assertEquals(busy.body.error.type, "conversation_busy");
  const seenFromB = await request(`${b.url}/v1/conversations/${id}`, "GET");
  assertEquals(seenFromB.status, 200);
  assertEquals(seenFromB.body.history[0].content, [{ type: "text", text: "sleep please" }]);

  assertEquals((await running).body.text, "Slept.");
  const fromB = await send(b.url, "hello from b");
  assertEquals([fromB.status, fromB.body.text], [200, "Answered hello from."]);
  const fromA = await send(a.url, "hello again");
  assertEquals([fromA.status, fromA.body.text], [200, "Answered hello again."]);

  // Each process took up the other's turns from the journal before writing its own.
  const history = (await request(`${b.url}/v1/conversations/${id}`, "GET")).body
    .history as Anthropic.MessageParam[];
  const texts = history.map((message) => JSON.stringify(message.content));
  assertEquals(history.map((message) => message.role), [
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
  assertStringIncludes(texts[2], "tool_result");
  assertStringIncludes(texts[4], "hello from b");
  assertStringIncludes(texts[6], "hello again");
  assertEquals(api.requests.at(-1)!.body.messages.length, 7, "A's last request had B's turn in it");
});

Deno.test("with the default 10 s TTL, a server already running takes over every turn of one killed beside it within TTL + 2 s", async () => {
  await using api = startFakeMessagesApi(sleepThenAnswer("Recovered."));
  const env = await journaledServerEnv(api.url); // no AGENT_NODE_TTL_MS: the default
  await using survivor = await startServerProcess(env);
  const { ids, lastBeat } = await crashMidCall(env, 3);
  const finished = await finishTimes(survivor.url, ids, "Recovered.");
  for (const at of finished) assert(at - lastBeat <= 12_000, `took ${at - lastBeat} ms`);
  const { body } = await request(`${survivor.url}/v1/conversations/${ids[0]}`, "GET");
  assertStringIncludes(JSON.stringify(body.history), "Interrupted by a restart");
});

Deno.test("a process whose conversation was taken over mid-call stops writing, and hands its tool's result over as a task", async () => {
  await using api = startFakeMessagesApi([{
    toolCalls: [{ name: "sleep", input: { ms: 300, label: "mine" } }],
  }]);
  const journal = await KvJournal.open(`${await Deno.makeTempDir()}/journal.kv`);
  await using system = await testSystem(api, {}, { journal });
  const conversation = await system.createConversation();
  const started = nextEvent(conversation, "tool_call_started");
  const turn = conversation.send({ type: "user_message", text: "Sleep." });
  await started;
  // Another live process takes the lease while the call runs.
  await journal.kv.set(["node", "other"], { until: Date.now() + 600_000, pid: 0 });
  await journal.kv.set(["lease", conversation.id], { node: "other" });
  assertEquals((await turn).status, "failed", "it stops driving");
  const [item] = await journal.inbox(conversation.id);
  assertEquals(item.value.type, "task_result");
  const handed = await journal.task((item.value as { taskId: string }).taskId);
  assertEquals([handed!.task.reason, handed!.task.state], ["taken_over", "succeeded"]);
  assertStringIncludes(handed!.result!, '"label":"mine"');
  const { state } = (await journal.load(conversation.id))!;
  assertEquals(state.calls.values().next().value!.state, "running", "the log was not written");
});

Deno.test("an answer whose commit is refused starts none of its calls, and the conversation goes on from what the journal holds", async () => {
  const journal = await KvJournal.open(`${await Deno.makeTempDir()}/journal.kv`);
  let id = "";
  await using api = startFakeMessagesApi(async (_, i) => {
    if (i > 0) return { text: "Done." };
    // Another live process takes the conversation while the model answers.
    await journal.kv.set(["node", "other"], { until: Date.now() + 600_000, pid: 0 });
    await journal.kv.set(["lease", id], { node: "other" });
    return { toolCalls: [{ name: "sleep", input: { ms: 10 } }] };
  });
  await using system = await testSystem(api, {}, { journal });
  const conversation = await system.createConversation();
  id = conversation.id;
  const started: string[] = [];
  conversation.subscribe((event) =>
    event.type === "tool_call_started" && started.push(event.callId)
  );

  assertEquals((await conversation.send("Sleep.")).status, "failed", "it stops driving");
  assertEquals(started, [], "no call starts before its answer is journaled");
  const { state } = (await journal.load(id))!;
  assertEquals([state.transcript.length, state.calls.size], [1, 0], "only the user's message");

  // The other process lets go: this one takes the conversation up from the journal.
  await journal.kv.delete(["lease", id]);
  const next = await conversation.send("Again.");
  assertEquals(next.status, "completed", "the open turn is finished first, then the message's own");
  assertEquals(api.requests[1].body.messages, [{
    role: "user",
    content: [{ type: "text", text: "Sleep." }],
  }], "the refused answer is not in the history");
  assertEquals(conversation.history.map((message) => message.role), [
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
  assertEquals(started, []);
});

Deno.test("a message's first request goes while its turn's start commits; a start another process beat is never answered, and the message goes through the inbox", async () => {
  const kv = await KvJournal.open(":memory:");
  let requested = Promise.withResolvers<void>();
  let beaten = false;
  // The start commits only once the model has been asked; the second is refused, as when
  // another process wrote to the conversation first.
  const journal = new Proxy(kv, {
    get(target, key) {
      if (key === "startTurnTakingLease") {
        return async (...args: Parameters<KvJournal["startTurnTakingLease"]>) => {
          await requested.promise;
          return beaten ? undefined : await target.startTurnTakingLease(...args);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await using api = startFakeMessagesApi((_, i) => {
    requested.resolve();
    return { text: `Answer ${i}.` };
  });
  await using system = await testSystem(api, {}, { journal });
  const conversation = await system.createConversation();

  const first = await deadline(conversation.send("Hi."), 10_000);
  assertEquals([first.status, "text" in first && first.text], ["completed", "Answer 0."]);

  requested = Promise.withResolvers<void>();
  beaten = true;
  const second = await conversation.send("Again.");
  assertEquals([second.status, "text" in second && second.text], ["completed", "Answer 2."]);
  assertEquals(conversation.history.map((message) => JSON.stringify(message.content)), [
    JSON.stringify([{ type: "text", text: "Hi." }]),
    JSON.stringify([{ type: "text", text: "Answer 0.", citations: null }]),
    JSON.stringify([{ type: "text", text: "Again." }]),
    JSON.stringify([{ type: "text", text: "Answer 2.", citations: null }]),
  ], "the abandoned answer is nowhere");
  const records = await kv.records(conversation.id);
  assertEquals(records.filter(({ record }) => record.type === "turn_started").length, 2);
});
