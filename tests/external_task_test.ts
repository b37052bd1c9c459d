import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { lastUserText, nextEvent, testSystem } from "./support/test_system.ts";
import { startTestServer } from "./support/test_server.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";

async function keyCount(journal: KvJournal): Promise<number> {
  return (await Array.fromAsync(journal.kv.list({ prefix: [] }))).length;
}

/** An outside system: it takes jobs on a loopback port and keeps them. */
function startOutsideWorker() {
  const jobs: { job: string; taskId: string; secret: string; resultPath: string }[] = [];
  const arrived = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    jobs.push(await req.json());
    arrived.resolve();
    return new Response("accepted");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/jobs`,
    jobs,
    arrived: arrived.promise,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("a handed-off task is finished by an outside system posting its result once, with the task's secret", async () => {
  await using outside = startOutsideWorker();
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "Thanks for the result." };
    if (last.includes("tool_result")) return { text: "Queued; the result will come." };
    return {
      toolCalls: [{
        id: "toolu_job",
        name: "hand_off",
        input: { queueUrl: outside.url, job: "transcode" },
      }],
    };
  });
  const journal = await KvJournal.open(":memory:");
  await using system = await testSystem(api, {}, { journal });
  await using server = startTestServer(system, { token: "api-token" });
  const api_ = (path: string, init: RequestInit = {}, token = "api-token") =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });

  const { id } = await (await api_("/v1/conversations", { method: "POST", body: "{}" })).json();
  const reply = await (await api_(`/v1/conversations/${id}/messages`, {
    method: "POST",
    body: JSON.stringify({ content: "Transcode it." }),
  })).json();
  assertEquals(reply.status, "completed");
  await outside.arrived;
  const [job] = outside.jobs;
  assertEquals(reply.toolCalls[0].status, "running");
  assertEquals(reply.toolCalls[0].taskId, job.taskId);
  assertEquals(job.resultPath, `/v1/tasks/${job.taskId}/result`);
  const told = lastUserText(api.requests[1]);
  assertStringIncludes(told, `continues as task ${job.taskId}`);
  assertStringIncludes(told, 'The tool said: queued \\"transcode\\"');

  const running = await (await api_(`/v1/tasks/${job.taskId}`)).json();
  assertEquals([running.task.state, running.task.reason], ["running", "handed_off"]);
  assertEquals("secretHash" in running.task, false);
  assertEquals((await api_(`/v1/tasks/${job.taskId}`, {}, "")).status, 401);

  const conversation = (await system.get(id))!;
  const delivered = nextEvent(
    conversation,
    "turn_finished",
    (event) => event.text.includes("Thanks"),
  );
  const post = (secret: string, content = "done: 3 files") =>
    api_(job.resultPath, { method: "POST", body: JSON.stringify({ content }) }, secret);
  const unauthenticated = await api_(job.resultPath, { method: "POST", body: "{}" }, "");
  assertEquals(unauthenticated.status, 401);
  await unauthenticated.body?.cancel();
  const forged = await post("not-the-secret");
  assertEquals(forged.status, 403);
  await forged.body?.cancel();
  const first = await post(job.secret);
  assertEquals([first.status, await first.json()], [200, { taskId: job.taskId, delivered: true }]);
  await delivered;
  await conversation.settled();
  // A replayed delivery, even one of a large result, is refused before anything is written.
  const keys = await keyCount(journal);
  for (let i = 0; i < 20; i++) {
    const again = await post(job.secret, "a different, larger result ".repeat(30_000));
    assertEquals(again.status, 409);
    assertMatch((await again.json()).error.message, /changed nothing/);
  }
  assertEquals(await keyCount(journal), keys, "the journal did not grow");

  const finished = await (await api_(`/v1/tasks/${job.taskId}`)).json();
  assertEquals([finished.task.state, finished.result], ["succeeded", "done: 3 files"]);
  const taskTurns = api.requests.filter((request) =>
    lastUserText(request).includes("[Background task")
  );
  assertEquals(taskTurns.length, 1, "the second delivery started no turn");
  assertStringIncludes(lastUserText(taskTurns[0]), "done: 3 files");
  const unknown = await api_("/v1/tasks/task_nope/result", {
    method: "POST",
    body: JSON.stringify({ content: "x" }),
  }, "whatever");
  assertEquals(unknown.status, 404);
  await unknown.body?.cancel();
  await conversation.settled();
});

Deno.test("a handed-off task with no result within AGENT_HANDOFF_TIMEOUT_MS ends timed out, the model is told, and a late result is refused", async () => {
  await using outside = startOutsideWorker();
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "It never came back." };
    if (last.includes("tool_result")) return { text: "Queued." };
    return { toolCalls: [{ name: "hand_off", input: { queueUrl: outside.url, job: "lost" } }] };
  });
  await using system = await testSystem(api, { handOffTimeoutMs: 200 });
  await using server = startTestServer(system);
  const conversation = await system.createConversation();
  const toldLater = nextEvent(
    conversation,
    "turn_finished",
    (event) => event.text === "It never came back.",
  );
  assertEquals(
    (await conversation.send({ type: "user_message", text: "Go." })).status,
    "completed",
  );
  await outside.arrived;
  const [job] = outside.jobs;
  await toldLater;
  const told = lastUserText(api.requests.at(-1)!);
  assertStringIncludes(told, `[Background task ${job.taskId}`);
  assertStringIncludes(told, "ended as timed_out");
  assertStringIncludes(told, "No result was posted within 200 ms of the hand-off");
  const late = await fetch(`${server.url}${job.resultPath}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${job.secret}` },
    body: JSON.stringify({ content: "too late" }),
  });
  assertEquals(late.status, 409);
  await late.body?.cancel();
  await conversation.settled();
});
