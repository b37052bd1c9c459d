/**
 * Builds a runtime for tests: the built-in tools plus the fixture tools, and
 * the real Anthropic SDK pointed at a fake Messages API.
 *
 * @module
 */
import {
  AgentSystem,
  type RuntimeSettings,
  type SystemOptions,
} from "../../actors/agent_system.ts";
import { Journal } from "../../src/journal/journal.ts";
import { AnthropicModel } from "../../src/model/anthropic_model.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "../../src/tool_catalog.ts";
import type { FakeMessagesApi } from "./fake_messages_api.ts";
import type { ConversationEvent, TurnError } from "../../src/events.ts";
import type { TurnResult } from "../../actors/supervisor/conversation_supervisor.ts";

/** The folder of the test tools. */
export const FIXTURE_TOOLS: URL = new URL("../fixtures/tools/", import.meta.url);

let catalog: Promise<ToolCatalog> | undefined;

/** The built-in and fixture tools, loaded once per test file. */
export function testCatalog(): Promise<ToolCatalog> {
  return catalog ??= ToolCatalog.load([BUILTIN_TOOLS_DIR, FIXTURE_TOOLS]);
}

/**
 * A started system whose model is Claude-through-the-SDK against `api`,
 * journaling in memory unless a journal is given. Dispose of it.
 */
export async function testSystem(
  api: FakeMessagesApi,
  settings: Partial<RuntimeSettings> = {},
  options: Partial<SystemOptions> = {},
): Promise<AgentSystem> {
  return await AgentSystem.start({
    model: new AnthropicModel({ apiKey: "sk-ant-test-key", baseURL: api.url }),
    modelName: "claude-test",
    catalog: await testCatalog(),
    defaultTimeoutMs: 10_000,
    turnLimitMs: 60_000,
    maxSteps: 20,
    maxTokens: 1024,
    ...settings,
  }, { journal: options.journal ?? await Journal.open(":memory:"), ...options });
}

/** Collects a conversation's events. */
export function recordEvents(
  target: { subscribe(listener: (event: ConversationEvent) => void): unknown },
): ConversationEvent[] {
  const events: ConversationEvent[] = [];
  target.subscribe((event) => events.push(event));
  return events;
}

/** The error of a turn that must have failed. */
export function failureOf(result: TurnResult): TurnError {
  if (result.status !== "failed") {
    throw new Error(`expected a failed turn, got ${JSON.stringify(result)}`);
  }
  return result.error;
}

/** The first event of a type, which must be there. */
export function eventOf<T extends ConversationEvent["type"]>(
  events: ConversationEvent[],
  type: T,
): Extract<ConversationEvent, { type: T }> {
  const event = events.find((event) => event.type === type);
  if (!event) {
    throw new Error(`no ${type} event among ${events.map((event) => event.type).join(", ")}`);
  }
  return event as Extract<ConversationEvent, { type: T }>;
}
