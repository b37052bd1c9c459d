/**
 * An actor-model agent runtime for Deno: one supervisor actor per
 * conversation with Claude, one sandboxed Web Worker per tool call (all of a
 * turn's calls at once, each with only the permissions its tool declares),
 * and a journal from which a restarted process carries every conversation on.
 *
 * Tool authors import from `./tool`: {@linkcode defineTool} and the tool types.
 *
 * @example Run a conversation
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { createAgentSystem, OfflineModel } from "@agent-runtime/core";
 *
 * // `apiKey: "sk-ant-…"` talks to Claude; the offline model needs no key.
 * await using agents = await createAgentSystem({
 *   model: new OfflineModel(),
 *   builtinTools: true,
 * });
 * const conversation = await agents.createConversation();
 * const finished: string[] = [];
 * conversation.subscribe((event) => {
 *   if (event.type === "tool_call_finished") finished.push(`${event.name} ${event.status}`);
 * });
 * const result = await conversation.send("What time is it?");
 * assertEquals(result.status, "completed");
 * assert(finished.includes("current_time succeeded"));
 * ```
 *
 * @module
 */
export { type AgentOptions, createAgentSystem } from "./src/agent.ts";
export type { AgentSystem, RuntimeSettings } from "./actors/agent_system.ts";
export type {
  ConversationSupervisor,
  NewConversation,
  TurnResult,
  UserMessage,
} from "./actors/supervisor/conversation_supervisor.ts";
export type { CallInFlight } from "./actors/supervisor/event_feed.ts";
export type { ConversationEvent, ToolCallSummary, TurnError } from "./src/events.ts";
export {
  type Model,
  type ModelCallOptions,
  ModelError,
  type ModelRequest,
} from "./src/model/model.ts";
export { OfflineModel } from "./src/model/offline_model.ts";
export { ConfigError } from "./src/config_error.ts";
export type { ToolLimits } from "./src/tool.ts";
export { type ServerTool, serverTool } from "./src/server_tools.ts";
export type { Effort, Thinking } from "./src/model/thinking.ts";
export { toolContent, type ToolResultBlock } from "./src/tool_result_blocks.ts";
export type { UserBlock } from "./src/user_content.ts";
