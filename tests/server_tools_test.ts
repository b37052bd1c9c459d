/**
 * Anthropic's server tools, declared by the operator: sent with every
 * request, their blocks kept in the order they came and sent back, their
 * use counted and shown as calls that ran at Anthropic.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { recordEvents } from "./support/test_system.ts";
import { startTestServer } from "./support/test_server.ts";
import { createAgentSystem, serverTool } from "../mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A reply that searched the web, as the API sends it. */
const SEARCHED = [
  { type: "text", text: "Let me search.", citations: null },
  { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "deno kv" } },
  {
    type: "web_search_tool_result",
    tool_use_id: "srvtoolu_1",
    content: [{
      type: "web_search_result",
      url: "https://docs.deno.com/deploy/kv/",
      title: "Deno KV",
      encrypted_content: "enc_abc",
      page_age: null,
    }],
  },
  { type: "text", text: "Deno KV is a key-value store.", citations: null },
] as unknown as Anthropic.ContentBlock[];

Deno.test("a server tool is offered with every request, its blocks kept and sent back in order, its use counted and shown", async () => {
  await using api = startFakeMessagesApi([
    {
      content: SEARCHED,
      usage: { server_tool_use: { web_search_requests: 1, web_fetch_requests: 0 } } as never,
    },
    { text: "You are welcome." },
  ]);
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    serverTools: [serverTool("web_search", { max_uses: 3, allowed_domains: ["deno.com"] })],
  });
  const conversation = await agents.createConversation();
  const events = recordEvents(conversation);
  const first = await conversation.send("What is Deno KV?");
  assertEquals(first.status, "completed");
  assertEquals(
    first.status === "completed" && first.text,
    "Let me search.Deno KV is a key-value store.",
  );
  assertEquals(first.usage.serverToolUses, 1);
  const used = events.filter((event) => event.type === "server_tool_used");
  assertEquals(
    used.map((event) => event.type === "server_tool_used" && [event.name, event.failed]),
    [["web_search", false]],
  );
  await conversation.send("Thanks.");
  const [offered] = api.requests.map((request) => request.body.tools!.at(-1));
  assertEquals({ ...offered, cache_control: undefined }, {
    type: "web_search_20250305",
    name: "web_search",
    max_uses: 3,
    allowed_domains: ["deno.com"],
    cache_control: undefined,
  });
  const sentBack = api.requests[1].body.messages[1].content as { type: string }[];
  assertEquals(sentBack.map((block) => block.type), [
    "text",
    "server_tool_use",
    "web_search_tool_result",
    "text",
  ]);
  await using server = startTestServer(agents);
  const { tools } = await (await fetch(`${server.url}/v1/tools`)).json();
  const listed = tools.find((tool: { name: string }) => tool.name === "web_search");
  assertEquals(listed.source, { type: "anthropic", tool: "web_search_20250305" });
  assertEquals(listed.options, { max_uses: 3, allowed_domains: ["deno.com"] });
});

Deno.test("a conversation limited to some tools gets the server tools it names, and only those", async () => {
  await using api = startFakeMessagesApi([{ text: "Hi." }, { text: "Hi." }]);
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    builtinTools: true,
    serverTools: [serverTool("web_search"), serverTool("web_fetch")],
  });
  await (await agents.createConversation({ tools: ["current_time", "web_fetch"] })).send("Hello");
  await (await agents.createConversation({ tools: ["current_time"] })).send("Hello");
  const names = api.requests.map((request) =>
    request.body.tools!.map((tool) => (tool as { name: string }).name)
  );
  assertEquals(names, [["current_time", "web_fetch"], ["current_time"]]);
});

Deno.test("--server-tool refuses an unknown tool, unknown options and options that are not JSON, saying what to fix", async () => {
  const cases: [string, string][] = [
    [
      "web_browse",
      'Unknown server tool "web_browse": the server tools are web_search, web_fetch, code_execution.',
    ],
    ['web_search={"max_use":3}', "The server tool web_search's options:"],
    ["web_search={bad", "its options are not JSON"],
  ];
  for (const [flag, message] of cases) {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-check", MAIN, "--server-tool", flag, "hi"],
      env: { AGENT_DATA: ":memory:", ANTHROPIC_API_KEY: "" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    assertEquals(code, 2, text);
    assertStringIncludes(text, message);
    assert(!text.includes("    at "), "no stack trace");
  }
});
