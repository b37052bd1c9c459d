import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type Message, type Part, Role, type Task, TaskState } from "@a2a-js/sdk";
import { ClientFactory } from "@a2a-js/sdk/client";
import { A2AClient as A2AClientV03 } from "@a2a-js/sdk-0.3/client";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  eventually,
  journaledServerEnv,
  request,
  startServerProcess,
} from "./support/server_process.ts";
import { lastUserText, testSystem } from "./support/test_system.ts";
import { createApp } from "../src/http/app.ts";
import { detectPlatform } from "../src/platform.ts";

/** Echoes; sleeps a minute on "sleep"; writes a report in the background on "report". */
function scriptedModel() {
  return startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "The report is in: all good." };
    if (last.includes("tool_result")) return { text: "Started the report." };
    if (last.includes("sleep")) return { toolCalls: [{ name: "sleep", input: { ms: 60_000 } }] };
    if (last.includes("report")) {
      return { toolCalls: [{ name: "slow_report", input: { ms: 300, topic: "sales" } }] };
    }
    return { text: `Echo: ${JSON.parse(last)[0].text}` };
  });
}

function userMessage(text: string, contextId = ""): Message {
  return {
    messageId: crypto.randomUUID(),
    contextId,
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{
      content: { $case: "text", value: text },
      metadata: undefined,
      filename: "",
      mediaType: "",
    }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

const send = (message: Message) => ({
  tenant: "",
  message,
  configuration: undefined,
  metadata: undefined,
});

function textOf(task: Task): string {
  return partsText(task.status?.message?.parts ?? []);
}

function partsText(parts: Part[]): string {
  return parts.map((part) => part.content?.$case === "text" ? part.content.value : "").join("");
}

async function a2aServer() {
  const api = scriptedModel();
  const server = await startServerProcess(await journaledServerEnv(api.url));
  const client = await new ClientFactory().createFromUrl(server.url);
  return {
    api,
    server,
    client,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

/** A raw JSON-RPC call, as a client that is not the SDK would make it. */
async function rawCall(url: string, body: string, version: string | undefined = "1.0") {
  const response = await fetch(`${url}/a2a`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(version ? { "a2a-version": version } : {}) },
    body,
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("A2A: the official client reads the card and runs turns; a contextId is the conversation, a task its turn", async () => {
  await using a2a = await a2aServer();
  const card = await a2a.client.getAgentCard();
  assertEquals(card.name, "agent-runtime");
  assert(card.skills.some((skill) => skill.id === "sleep"), "skills are the tools");
  assertEquals(card.supportedInterfaces[0].url, `${a2a.server.url}/a2a`);

  const first = await a2a.client.sendMessage(send(userMessage("hello"))) as Task;
  assertEquals(first.status?.state, TaskState.TASK_STATE_COMPLETED);
  assertEquals(textOf(first), "Echo: hello");
  const second = await a2a.client.sendMessage(
    send(userMessage("again", first.contextId)),
  ) as Task;
  assertEquals(second.contextId, first.contextId);
  assert(second.id !== first.id, "each message is a task of its own");
  const conversation = await request(
    `${a2a.server.url}/v1/conversations/${first.contextId}`,
    "GET",
  );
  assertEquals(conversation.body.history.length, 4, "both turns are the one conversation's");

  const fetched = await a2a.client.getTask({ tenant: "", id: first.id, historyLength: undefined });
  assertEquals(fetched.status?.state, TaskState.TASK_STATE_COMPLETED);
  // The answer is the task's output, where clients look for it, as well as in its status.
  for (const task of [first, fetched]) {
    assertEquals(task.artifacts.map((artifact) => [artifact.name, partsText(artifact.parts)]), [
      ["answer", "Echo: hello"],
    ]);
  }
});

Deno.test("A2A: a streamed message reports the task working, then completed with the answer", async () => {
  await using a2a = await a2aServer();
  const states: TaskState[] = [];
  let answer = "";
  for await (const response of a2a.client.sendMessageStream(send(userMessage("stream me")))) {
    const payload = response.payload;
    if (payload?.$case === "task") states.push(payload.value.status!.state);
    if (payload?.$case === "statusUpdate") {
      states.push(payload.value.status!.state);
      answer = textOf({ status: payload.value.status } as Task);
    }
  }
  assertEquals(states, [TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED]);
  assertEquals(answer, "Echo: stream me");
});

Deno.test("A2A: a task whose call continues in the background stays working until the result lands", async () => {
  await using a2a = await a2aServer();
  const updates: [TaskState, string][] = [];
  for await (const response of a2a.client.sendMessageStream(send(userMessage("report")))) {
    const payload = response.payload;
    if (payload?.$case === "statusUpdate") {
      const text = textOf({ status: payload.value.status } as Task);
      updates.push([payload.value.status!.state, text.replace(/task_[0-9a-f-]+/, "task_…")]);
    }
  }
  // The turn's progress streams as it happens: the call, its hand-over to a background task,
  // the first answer, the task's end (which may come before that answer is sent), the last answer.
  assertEquals(updates[0], [TaskState.TASK_STATE_WORKING, "Calling slow_report."]);
  assertEquals(updates.at(-1), [TaskState.TASK_STATE_COMPLETED, "The report is in: all good."]);
  assertEquals(updates.slice(1, -1).toSorted(), [
    [TaskState.TASK_STATE_WORKING, "Started the report."],
    [TaskState.TASK_STATE_WORKING, "slow_report (background task task_…) succeeded."],
    [TaskState.TASK_STATE_WORKING, "slow_report goes on as background task task_…."],
  ]);
});

Deno.test("A2A: CancelTask cancels the running turn", async () => {
  await using a2a = await a2aServer();
  const stream = a2a.client.sendMessageStream(send(userMessage("sleep")));
  const first = (await stream.next()).value?.payload;
  if (first?.$case !== "task") throw new Error(`the stream began with ${first?.$case}`);
  const { id, contextId } = first.value;
  // The turn has its call running once the conversation says so.
  await eventually(async () => {
    const { body } = await request(`${a2a.server.url}/v1/conversations/${contextId}`, "GET");
    return body.status.callsInFlight.length > 0 || undefined;
  });
  const cancelled = await a2a.client.cancelTask({ tenant: "", id, metadata: undefined });
  assertEquals(cancelled.status?.state, TaskState.TASK_STATE_CANCELED);
  for await (const _ of stream) { /* drained: the stream ends */ }
  const ended = await eventually(async () => {
    const { body } = await request(`${a2a.server.url}/v1/conversations/${contextId}`, "GET");
    return body.status.state === "idle" ? body : undefined;
  });
  assertStringIncludes(JSON.stringify(ended.history.at(-1)), "Cancelled", "the model's result");
});

Deno.test("A2A: bad requests get JSON-RPC errors, never a 5xx", async () => {
  await using a2a = await a2aServer();
  const { url } = a2a.server;
  const notJson = await rawCall(url, "{not json");
  assertEquals([notJson.status, notJson.body.error.code], [200, -32700]);
  const unknownMethod = await rawCall(
    url,
    JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Nope", params: {} }),
  );
  assertEquals([unknownMethod.status, unknownMethod.body.error.code], [200, -32601]);
  const unknownTask = await rawCall(
    url,
    JSON.stringify({ jsonrpc: "2.0", id: 2, method: "GetTask", params: { id: "no-such-task" } }),
  );
  assertEquals([unknownTask.status, unknownTask.body.id], [200, 2]);
  assertEquals(unknownTask.body.error.code, -32001);
  assertEquals(unknownTask.body.error.message, "Task not found: no-such-task");
  const noMessage = await rawCall(
    url,
    JSON.stringify({ jsonrpc: "2.0", id: 3, method: "SendMessage", params: {} }),
  );
  assertEquals([noMessage.status, noMessage.body.error.code], [200, -32602]);
  assertStringIncludes(noMessage.body.error.message, "messageId is required");
  const noParams = await rawCall(url, JSON.stringify({ jsonrpc: "2.0", id: 4, method: "Nope" }));
  assertEquals([noParams.status, noParams.body.error.code], [200, -32601]);
});

Deno.test("A2A: a request that names no A2A-Version is served as 1.0, not refused", async () => {
  await using a2a = await a2aServer();
  const message = {
    messageId: crypto.randomUUID(),
    role: "ROLE_USER",
    parts: [{ text: "hello" }],
  };
  const answer = await rawCall(
    a2a.server.url,
    JSON.stringify({ jsonrpc: "2.0", id: 1, method: "SendMessage", params: { message } }),
    undefined,
  );
  assertEquals(answer.status, 200);
  assertEquals(answer.body.error, undefined, JSON.stringify(answer.body));
});

Deno.test("A2A: with a token, the card names the bearer scheme and is public, the endpoint needs the token", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  const app = createApp({ system, platform: detectPlatform(), token: "s3cret" });
  const card = await (await app.request("/.well-known/agent-card.json")).json();
  assertEquals(card.securitySchemes.bearer.httpAuthSecurityScheme.scheme, "Bearer");
  assertEquals(card.securityRequirements, [{ schemes: { bearer: {} } }]);
  const refused = await app.request("/a2a", { method: "POST", body: "{}" });
  assertEquals(refused.status, 401);
});

Deno.test("A2A: tasks are kept in the journal (a restart still knows them), a message over the limit is rejected, and a blocking call answers within AGENT_A2A_WAIT_MS", async () => {
  const api = scriptedModel();
  const env = await journaledServerEnv(api.url, { AGENT_A2A_WAIT_MS: "500" });
  let taskId: string;
  {
    await using server = await startServerProcess(env);
    const client = await new ClientFactory().createFromUrl(server.url);
    const done = await client.sendMessage(send(userMessage("hello"))) as Task;
    taskId = done.id;
    assertEquals(textOf(done), "Echo: hello");

    const long = await client.sendMessage(send(userMessage("x".repeat(200_001)))) as Task;
    assertEquals(long.status?.state, TaskState.TASK_STATE_REJECTED);
    assertStringIncludes(textOf(long), "The message has 200001 characters; at most 200000");

    // The turn's call sleeps a minute: the blocking call answers with the task still working.
    const waiting = await client.sendMessage(send(userMessage("sleep"))) as Task;
    assertEquals(waiting.status?.state, TaskState.TASK_STATE_WORKING);
    const cancelled = await client.cancelTask({ tenant: "", id: waiting.id, metadata: undefined });
    assertEquals(cancelled.status?.state, TaskState.TASK_STATE_CANCELED);
  }
  await using restarted = await startServerProcess(env);
  const client = await new ClientFactory().createFromUrl(restarted.url);
  const known = await client.getTask({ tenant: "", id: taskId, historyLength: undefined });
  assertEquals([known.status?.state, textOf(known)], [
    TaskState.TASK_STATE_COMPLETED,
    "Echo: hello",
  ]);
  await api[Symbol.asyncDispose]();
});

Deno.test("A2A 0.3: the official 0.3 client reads the card, sends, streams, gets and cancels", async () => {
  await using a2a = await a2aServer();
  const client = await A2AClientV03.fromCardUrl(`${a2a.server.url}/.well-known/agent-card.json`);
  const message = (text: string, contextId?: string) => ({
    kind: "message" as const,
    messageId: crypto.randomUUID(),
    role: "user" as const,
    parts: [{ kind: "text" as const, text }],
    ...(contextId ? { contextId } : {}),
  });
  const sent = await client.sendMessage({ message: message("hello") });
  if (!("result" in sent) || sent.result.kind !== "task") throw new Error(JSON.stringify(sent));
  const task = sent.result;
  assertEquals(task.status.state, "completed");
  assertEquals(task.artifacts?.[0].parts, [{
    kind: "text",
    text: "Echo: hello",
    mediaType: "text/plain",
  }]);

  const streamed: string[] = [];
  for await (
    const event of client.sendMessageStream({ message: message("again", task.contextId) })
  ) {
    streamed.push(
      event.kind === "status-update" ? `${event.kind} ${event.status.state}` : event.kind,
    );
  }
  assertEquals(streamed.at(0), "task");
  assertEquals(streamed.at(-1), "status-update completed");

  const fetched = await client.getTask({ id: task.id });
  if (!("result" in fetched)) throw new Error(JSON.stringify(fetched));
  assertEquals([fetched.result.kind, fetched.result.id, fetched.result.status.state], [
    "task",
    task.id,
    "completed",
  ]);
  const cancelled = await client.cancelTask({ id: task.id });
  assert("error" in cancelled, "a task that ended cannot be cancelled");
});
