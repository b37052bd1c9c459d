import { assertEquals } from "@std/assert";
import { createAgentSystem } from "../../src/agent.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../../src/tool_limits.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import type { RoutingExecutor } from "../routing_executor.ts";
import type { CallPreview } from "../tool_executor.ts";
import { startFakeMessagesApi } from "../../tests/support/fake_messages_api.ts";
import { eventually } from "../../tests/support/server_process.ts";
import { FIXTURE_TOOLS, testCatalog } from "../../tests/support/test_system.ts";
import { HostExecutor } from "./host_executor.ts";

function previewOf(tool: CatalogTool, isolationKey?: string): CallPreview {
  const { moduleUrl, permissions } = tool;
  return {
    moduleUrl,
    permissions,
    limits: resolveLimits(tool.limits, DEFAULT_LIMITS),
    isolationKey,
  };
}

Deno.test("an offered tool's host starts before its first call, once per profile; a tool isolated per conversation gets none ahead", async () => {
  const catalog = await testCatalog();
  await using executor = new HostExecutor();
  const [shout, sleep, fetchLocal] = ["shout", "sleep", "fetch_local"].map((name) =>
    catalog.get(name)!
  );
  // shout and sleep share a profile (no permissions, one folder); fetch_local needs the network.
  executor.offer([previewOf(shout), previewOf(sleep), previewOf(fetchLocal, "conversation-1")]);
  await eventually(() => Promise.resolve(executor.hosts === 1 || undefined));
  const outcome = await executor.run({
    ...previewOf(shout),
    name: "shout",
    callId: "toolu_1",
    input: { text: "hi" },
    timeoutMs: 10_000,
  });
  assertEquals([outcome.content, executor.hosts], ["HI", 1]);
});

Deno.test("a runtime starts hosts only for the tools its conversations offer, as their turns begin", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!.content;
    const answered = typeof last !== "string" && last.some((block) => block.type === "tool_result");
    return answered ? { text: "Done." } : { toolCalls: [{ name: "shout", input: { text: "a" } }] };
  });
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    journal: ":memory:",
    builtinTools: true, // four profiles of their own, none offered below
    tools: [FIXTURE_TOOLS],
  });
  const hosts = (agents.settings.executor as RoutingExecutor).modules as HostExecutor;
  assertEquals(hosts.hosts, 0);
  const conversation = await agents.createConversation({ tools: ["shout"] });
  const result = await conversation.send({ type: "user_message", text: "Shout." });
  assertEquals([result.status, result.toolCalls[0].status], ["completed", "succeeded"]);
  assertEquals(hosts.hosts, 1);
});
