/**
 * MCP servers as a source of tools, against real servers from npm: their
 * tools reach the model, and every way a call can end comes back as a
 * result the model can read.
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { pathToFileURL as toFileUrl } from "node:url";
import { type AgentOptions, ConfigError, createAgentSystem } from "../mod.ts";
import type Anthropic from "@anthropic-ai/sdk";
import type { TurnResult } from "../actors/supervisor/conversation_supervisor.ts";
import type { ToolCallSummary } from "../src/events.ts";
import { type FakeScript, startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  childPids,
  EVERYTHING,
  memoryServer,
  startEverythingOverHttp,
} from "./support/mcp_servers.ts";
import { startTestServer } from "./support/test_server.ts";
import { nextEvent, recordEvents } from "./support/test_system.ts";

/** A model that calls the tools a message names as JSON (`[{name, input}]`), then says what it got. */
const callsAsAsked: FakeScript = (request) => {
  const content = request.body.messages.at(-1)!.content;
  if (typeof content !== "string" && content.some((block) => block.type === "tool_result")) {
    return { text: JSON.stringify(content) };
  }
  const text = typeof content === "string"
    ? content
    : content.map((block) => block.type === "text" ? block.text : "").join("");
  return text.startsWith("[{") ? { toolCalls: JSON.parse(text) } : { text: "Noted." };
};

async function agentsWith(options: Partial<AgentOptions>) {
  const api = startFakeMessagesApi(callsAsAsked);
  const agents = await createAgentSystem({ apiKey: "sk-ant-test", baseURL: api.url, ...options });
  return {
    api,
    agents,
    async [Symbol.asyncDispose]() {
      await agents[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

/** The `tool_result` blocks the model got back, in order (the model above says them back). */
function resultsSeen(result: TurnResult): { content: string; is_error?: boolean }[] {
  if (result.status !== "completed") throw new Error(`the turn ${result.status}`);
  return JSON.parse(result.text);
}

function statuses(calls: ToolCallSummary[]): string[] {
  return calls.map((call) => `${call.name}: ${call.status}`);
}

Deno.test("an MCP server's tools reach the model under its name, and a turn calls them at once", async () => {
  await using test = await agentsWith({ mcpServers: { everything: EVERYTHING } });
  const conversation = await test.agents.createConversation();
  const result = await conversation.send(JSON.stringify([
    { name: "everything__get-sum", input: { a: 2, b: 40 } },
    { name: "everything__echo", input: { message: "over MCP" } },
  ]));
  assert(result.status === "completed");
  assertEquals(statuses(result.toolCalls), [
    "everything__get-sum: succeeded",
    "everything__echo: succeeded",
  ]);
  const seen = resultsSeen(result).map((block) => block.content);
  assertEquals(seen, ["The sum of 2 and 40 is 42.", "Echo: over MCP"]);
  const offered = test.api.requests[0].body.tools as Anthropic.Tool[];
  const echo = offered.find((tool) => tool.name === "everything__echo")!;
  assertEquals(echo.input_schema.required, ["message"]);
  assert(!("$schema" in echo.input_schema), "the server's draft-07 $schema is not passed on");
  await using server = startTestServer(test.agents);
  const { tools } = await (await fetch(`${server.url}/v1/tools`)).json();
  assertEquals(tools.find((tool: { name: string }) => tool.name === "everything__echo").source, {
    type: "mcp",
    server: "everything",
  });
});

Deno.test("a stdio MCP server gets only the permissions and environment it is given", async () => {
  const folder = await Deno.makeTempDir();
  Deno.env.set("AGENT_TEST_SECRET", "do-not-leak");
  await using test = await agentsWith({
    mcpServers: { memory: memoryServer(folder), everything: EVERYTHING },
  });
  const conversation = await test.agents.createConversation();
  const result = await conversation.send(JSON.stringify([
    {
      name: "memory__create_entities",
      input: { entities: [{ name: "Oslo", entityType: "city", observations: ["cold"] }] },
    },
    { name: "everything__get-env", input: {} },
  ]));
  assert(result.status === "completed");
  assertEquals(statuses(result.toolCalls), [
    "memory__create_entities: succeeded",
    "everything__get-env: succeeded",
  ]);
  assertStringIncludes(await Deno.readTextFile(join(folder, "memory.jsonl")), '"Oslo"');
  const seenEnv = resultsSeen(result)[1].content;
  assertStringIncludes(seenEnv, "PATH");
  assert(!seenEnv.includes("do-not-leak"), "a variable of this process reached the server");
});

Deno.test("an MCP tool's error comes back to the model as an error result", async () => {
  await using test = await agentsWith({
    mcpServers: { memory: memoryServer(await Deno.makeTempDir()) },
  });
  const conversation = await test.agents.createConversation();
  const result = await conversation.send(JSON.stringify([
    {
      name: "memory__add_observations",
      input: { observations: [{ entityName: "Nobody", contents: ["x"] }] },
    },
  ]));
  assert(result.status === "completed");
  assertEquals(statuses(result.toolCalls), ["memory__add_observations: failed"]);
  const [block] = resultsSeen(result);
  assertEquals(block, {
    ...block,
    is_error: true,
    content: "Entity with name Nobody not found",
  });
});

const LONG = {
  name: "everything__trigger-long-running-operation",
  input: { duration: 60, steps: 60 },
};

Deno.test("a hanging MCP call times out, and a cancelled one is cancelled, while the server stays up", async () => {
  await using test = await agentsWith({ mcpServers: { everything: EVERYTHING }, timeoutMs: 1_500 });
  const conversation = await test.agents.createConversation();
  const timedOut = await conversation.send(JSON.stringify([LONG]));
  assert(timedOut.status === "completed");
  assertEquals(statuses(timedOut.toolCalls), [`${LONG.name}: timed_out`]);
  assertStringIncludes(
    resultsSeen(timedOut)[0].content,
    "timed out after 1500 ms; the MCP server was told to cancel it",
  );

  const [pid] = childPids("server-everything");
  const progressed = nextEvent(conversation, "tool_call_progress");
  const cancelled = conversation.send(JSON.stringify([LONG]));
  assertEquals((await progressed).text, "1/60");
  assert(conversation.cancel());
  const result = await cancelled;
  assertEquals(statuses(result.toolCalls), [`${LONG.name}: cancelled`]);
  assertEquals(childPids("server-everything"), [pid], "the same server answered both calls");
});

Deno.test("an MCP server killed mid-call fails that call, and is started again on the next", async () => {
  // The server marks this tool idempotent, which would have the failed call tried again.
  await using test = await agentsWith({
    mcpServers: { everything: EVERYTHING },
    retry: { retries: 0 },
  });
  const conversation = await test.agents.createConversation();
  const events = recordEvents(conversation);
  const [pid] = childPids("server-everything");
  const progressed = nextEvent(conversation, "tool_call_progress");
  const killedTurn = conversation.send(JSON.stringify([LONG]));
  await progressed;
  Deno.kill(pid, "SIGKILL");
  const killed = await killedTurn;
  assert(killed.status === "completed");
  assertEquals(statuses(killed.toolCalls), [`${LONG.name}: failed`]);
  const told = resultsSeen(killed)[0];
  assertEquals(told.is_error, true);
  assertStringIncludes(told.content, "The MCP server everything");
  assertStringIncludes(told.content, "stopped during the call");
  assertStringIncludes(told.content, "it will be started again on the next call");

  const again = await conversation.send(
    JSON.stringify([{ name: "everything__echo", input: { message: "back" } }]),
  );
  assertEquals(statuses(again.toolCalls), ["everything__echo: succeeded"]);
  const [restarted] = childPids("server-everything");
  assertNotEquals(restarted, pid);
  assert(events.some((event) => event.type === "tool_call_finished" && event.status === "failed"));
});

Deno.test("an MCP call that outlives the turn limit continues as a task whose result reaches the model", async () => {
  await using test = await agentsWith({ mcpServers: { everything: EVERYTHING }, turnLimitMs: 300 });
  const conversation = await test.agents.createConversation();
  const taskTurn = nextEvent(conversation, "turn_started", (event) => !!event.taskId, 30_000);
  const result = await conversation.send(JSON.stringify([
    { name: "everything__trigger-long-running-operation", input: { duration: 1, steps: 1 } },
  ]));
  assertEquals(statuses(result.toolCalls), [
    "everything__trigger-long-running-operation: running",
  ]);
  assertStringIncludes((await taskTurn).text, "Long running operation completed.");
});

Deno.test("an MCP server over Streamable HTTP is used as one over stdio", async () => {
  await using server = await startEverythingOverHttp();
  await using test = await agentsWith({ mcpServers: { remote: { url: server.url } } });
  const conversation = await test.agents.createConversation();
  const result = await conversation.send(
    JSON.stringify([{ name: "remote__echo", input: { message: "over HTTP" } }]),
  );
  assertEquals(statuses(result.toolCalls), ["remote__echo: succeeded"]);
  assertEquals(resultsSeen(result)[0].content, "Echo: over HTTP");
});

Deno.test("MCP servers that cannot be used are refused with what to fix", async (t) => {
  const refused = async (options: Partial<AgentOptions>, ...parts: string[]) => {
    const error = await assertRejects(
      () => createAgentSystem({ apiKey: "sk-ant-test", ...options }),
      ConfigError,
    );
    for (const part of parts) assertStringIncludes(error.message, part);
  };
  await t.step("a command that does not exist", () =>
    refused(
      { mcpServers: { gone: { command: "/nonexistent/mcp-server" } } },
      "The MCP server gone (/nonexistent/mcp-server) did not start: there is no such command",
    ));
  await t.step("a program that speaks something else", () =>
    refused(
      { mcpServers: { chatty: { command: Deno.execPath(), args: ["eval", "console.log('hi')"] } } },
      "The MCP server chatty",
      "did not start: it ended before answering MCP's initialize",
    ));
  await t.step("a server that dies at start: its own error, not a guess", async () => {
    const script = `${await Deno.makeTempDir()}/locked.ts`;
    await Deno.writeTextFile(
      script,
      'throw new Error("the database at /var/db/app.sqlite is locked");\n',
    );
    const error = await assertRejects(
      () =>
        createAgentSystem({
          apiKey: "sk-ant-test",
          mcpServers: { locked: { command: Deno.execPath(), args: ["run", script] } },
        }),
      ConfigError,
    );
    assertStringIncludes(error.message, "Error: the database at /var/db/app.sqlite is locked");
    assertEquals(error.message.includes("is it an MCP server"), false, error.message);
    assertEquals(error.message.includes("\x1b["), false, "no colour codes");
    assertEquals(/\bat file:/.test(error.message), false, "no stack frames");
  });
  await t.step("an address where nothing answers", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listener.close();
    const url = `http://127.0.0.1:${listener.addr.port}/mcp`;
    await refused(
      { mcpServers: { far: { url } } },
      `The MCP server far at ${url} did not answer: TypeError: fetch failed`,
    );
  });
  await t.step(
    "a name that is not one",
    () =>
      refused(
        { mcpServers: { "my server": { url: "https://example.com/mcp" } } },
        '"my server" cannot name an MCP server',
      ),
  );
  await t.step("a tool name another tool has", async () => {
    const folder = await Deno.makeTempDir();
    await Deno.writeTextFile(
      join(folder, "echo.ts"),
      `export default { name: "everything__echo", description: "mine", inputSchema: { type: "object" }, run: () => "mine" };`,
    );
    await refused(
      { tools: [folder], mcpServers: { everything: EVERYTHING } },
      `two tools are named "everything__echo": ${
        toFileUrl(folder).href
      }/echo.ts and mcp://everything/echo`,
    );
  });
});

Deno.test("deno task run --mcp offers a server's tools to the model", async () => {
  await using api = startFakeMessagesApi(callsAsAsked);
  const { command, args } = EVERYTHING;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--no-check",
      new URL("../main.ts", import.meta.url).pathname,
      "--mcp",
      `everything=${command} ${args!.join(" ")}`,
      "--json",
      JSON.stringify([{ name: "everything__echo", input: { message: "from the CLI" } }]),
    ],
    env: { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: api.url, AGENT_DATA: ":memory:" },
  }).output();
  assertEquals(code, 0);
  const events = new TextDecoder().decode(stdout).trim().split("\n").map((line) =>
    JSON.parse(line)
  );
  const finished = events.find((event) => event.type === "tool_call_finished");
  assertEquals([finished.name, finished.status, finished.content], [
    "everything__echo",
    "succeeded",
    "Echo: from the CLI",
  ]);
});

Deno.test("MCP calls take no worker slot: with one worker, a batch of them runs without queueing", async () => {
  await using test = await agentsWith({ mcpServers: { everything: EVERYTHING }, maxWorkers: 1 });
  const conversation = await test.agents.createConversation();
  const events = recordEvents(conversation);
  const result = await conversation.send(JSON.stringify([
    { name: "everything__get-sum", input: { a: 1, b: 2 } },
    { name: "everything__get-sum", input: { a: 3, b: 4 } },
    { name: "everything__echo", input: { message: "third" } },
  ]));
  assert(result.status === "completed");
  assertEquals(statuses(result.toolCalls), [
    "everything__get-sum: succeeded",
    "everything__get-sum: succeeded",
    "everything__echo: succeeded",
  ]);
  assertEquals(events.filter((event) => event.type === "tool_call_queued"), []);
});

/** The misbehaving server of the fixtures, in one of its modes. */
function hostileServer(mode: string) {
  const script = new URL("./fixtures/hostile_mcp/server.ts", import.meta.url).pathname;
  return { command: Deno.execPath(), args: ["run", "--no-check", "--no-lock", script, mode] };
}

Deno.test("MCP servers whose tool lists are endless, huge or colliding are refused at start, saying why", async (t) => {
  const refused = async (mode: string, ...parts: string[]) => {
    const error = await assertRejects(
      () => createAgentSystem({ apiKey: "sk-ant-test", mcpServers: { h: hostileServer(mode) } }),
      ConfigError,
    );
    for (const part of parts) assertStringIncludes(error.message, part);
  };
  await t.step(
    "a tools/list that pages forever",
    () => refused("endless_pages", "was still listing tools after 100 pages (100 tools)"),
  );
  await t.step(
    "10,000 tools",
    () => refused("many_tools", "offers more than 250 tools, the most one server may offer"),
  );
  await t.step("names that collide once made valid for the API", () =>
    refused(
      "colliding_names",
      'two tools are named "h__a_b": mcp://h/a.b and mcp://h/a%2Fb',
      'two tools are named "h__same"',
    ));
});

Deno.test("a stdio MCP result of 9 MiB reaches the model cut to its limit; one over 10 MiB fails its call clearly and the server is started again", async () => {
  await using test = await agentsWith({ mcpServers: { h: hostileServer("huge_results") } });
  const conversation = await test.agents.createConversation();
  const calls = [9 * 1024 * 1024, 11 * 1024 * 1024, 100].map((bytes) => ({
    name: "h__big",
    input: { bytes },
  }));
  const [nine, eleven, small] = resultsSeen(await conversation.send(JSON.stringify(calls)));
  assertEquals(nine.is_error, undefined);
  assertStringIncludes(nine.content, "[Truncated by the runtime: the tool returned");
  assertEquals(eleven.is_error, true);
  assertStringIncludes(
    eleven.content,
    "it sent a message over 10485760 bytes, more than a stdio MCP server may send",
  );
  // The small call shared the session that was cut; the next call starts the server again.
  assert(small.is_error || small.content === "y".repeat(100));
  const [again] = resultsSeen(await conversation.send(JSON.stringify([calls[2]])));
  assertEquals(again.content, "y".repeat(100));
});

/** The fixture server whose tools carry MCP's title and annotations, with `rules`. */
function annotatedServer(rules: { tools?: string[]; approve?: string[] } = {}) {
  const script = new URL("./fixtures/annotated_mcp/server.ts", import.meta.url).pathname;
  return { command: Deno.execPath(), args: ["run", "--no-check", "--no-lock", script], ...rules };
}

Deno.test("an operator offers only some of a server's tools and has the destructive ones approved; titles and hints are listed", async () => {
  await using test = await agentsWith({
    mcpServers: {
      files: annotatedServer({
        tools: ["read_file", "write_file", "touch"],
        approve: ["destructive"],
      }),
    },
  });
  await using server = startTestServer(test.agents);
  const { tools } = await (await fetch(`${server.url}/v1/tools`)).json();
  const listed = Object.fromEntries(
    tools.filter((tool: { name: string }) => tool.name.startsWith("files__")).map((
      tool: {
        name: string;
        title: string;
        annotations: Record<string, boolean>;
        policies: { needsApproval: boolean; idempotent: boolean };
      },
    ) => [tool.name, [tool.title, tool.policies.needsApproval, tool.policies.idempotent]]),
  );
  assertEquals(listed, {
    files__read_file: ["Read a file", false, false],
    files__write_file: ["Write a file", true, false],
    files__touch: ["Touch a file", false, true], // harmless; a repeat changes nothing
  });
  const write = tools.find((tool: { name: string }) => tool.name === "files__write_file");
  assertEquals(write.annotations, { readOnlyHint: false, destructiveHint: true });

  const conversation = await test.agents.createConversation();
  const asked = nextEvent(conversation, "tool_call_awaiting_approval");
  const turn = conversation.send(JSON.stringify([
    { name: "files__read_file", input: { path: "a" } },
    { name: "files__write_file", input: { path: "a" } },
  ]));
  const { callId, name } = await asked;
  assertEquals(name, "files__write_file");
  await conversation.decide(callId, { approved: true });
  const result = await turn;
  assertEquals(resultsSeen(result).map((block) => block.content), [
    "ran read_file",
    "ran write_file",
  ]);
});

Deno.test("a rule that names a tool the server does not have is refused at start, naming what it has", async () => {
  const error = await assertRejects(
    () =>
      createAgentSystem({
        apiKey: "sk-ant-test",
        mcpServers: { files: annotatedServer({ approve: ["write_fle"] }) },
      }),
    ConfigError,
  );
  assertStringIncludes(error.message, "MCP server files has no tool write_fle");
  assertStringIncludes(error.message, "read_file, write_file, delete_file, touch");
});
