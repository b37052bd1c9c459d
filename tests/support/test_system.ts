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
import type { Journal } from "../../src/journal/journal.ts";
import { KvJournal } from "../../src/journal/kv_journal.ts";
import { CallSlots } from "../../actors/call_slots.ts";
import { callPolicies } from "../../actors/scheduler/call_policies.ts";
import { HostExecutor } from "../../actors/tool_host/host_executor.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../../src/tool_limits.ts";
import { AnthropicModel } from "../../src/model/anthropic_model.ts";
import { DEFAULT_COMPACTION } from "../../src/model/compaction.ts";
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
  const journal = auditOnClose(options.journal ?? await KvJournal.open(":memory:"));
  return await AgentSystem.start({
    model: new AnthropicModel({ apiKey: "sk-ant-test-key", baseURL: api.url }),
    modelName: "claude-test",
    catalog: await testCatalog(),
    defaultTimeoutMs: 10_000,
    turnLimitMs: 60_000,
    maxSteps: 20,
    maxTokens: 1024,
    handOff: true,
    executor: new HostExecutor(),
    toolLimits: DEFAULT_LIMITS,
    slots: new CallSlots({ max: 1000, maxQueued: 10_000 }),
    policies: callPolicies(),
    compaction: DEFAULT_COMPACTION,
    ...settings,
  }, { ...options, journal });
}

/**
 * Makes closing `journal` fail if it holds a chunk that no value owns: every
 * test that runs a system checks that its journal keeps no garbage.
 */
export function auditOnClose(journal: Journal): Journal {
  if (!(journal instanceof KvJournal)) return journal; // chunks are Deno KV's alone
  const close = journal[Symbol.asyncDispose].bind(journal);
  journal[Symbol.asyncDispose] = async () => {
    const orphans = await journal.orphans().finally(close);
    assertNoOrphans(orphans);
  };
  return journal;
}

/** Throws, naming them, if there are orphan chunks. */
export function assertNoOrphans(orphans: { key: Deno.KvKey }[]): void {
  if (orphans.length === 0) return;
  const keys = orphans.slice(0, 5).map(({ key }) => JSON.stringify(key)).join(", ");
  throw new Error(`The journal holds ${orphans.length} chunks that no value owns: ${keys}…`);
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

/** Resolves with the first event from now on that `matches`; rejects after `ms`. */
export function nextEvent<T extends ConversationEvent["type"]>(
  target: { subscribe(listener: (event: ConversationEvent) => void): () => void },
  type: T,
  matches: (event: Extract<ConversationEvent, { type: T }>) => boolean = () => true,
  ms = 10_000,
): Promise<Extract<ConversationEvent, { type: T }>> {
  const { promise, resolve, reject } = Promise.withResolvers<
    Extract<ConversationEvent, { type: T }>
  >();
  const timer = setTimeout(() => {
    unsubscribe();
    reject(new Error(`no matching ${type} event within ${ms} ms`));
  }, ms);
  const unsubscribe = target.subscribe((event) => {
    if (event.type !== type || !matches(event as Extract<ConversationEvent, { type: T }>)) return;
    clearTimeout(timer);
    unsubscribe();
    resolve(event as Extract<ConversationEvent, { type: T }>);
  });
  return promise;
}

/** The text of a request's last user message. */
export function lastUserText(request: { body: { messages: { content: unknown }[] } }): string {
  return JSON.stringify(request.body.messages.at(-1)!.content);
}

/**
 * Runs one call of each named tool directly, so that their tool hosts are
 * started: for tests whose timing must not include a host's start-up.
 */
export async function warmTools(system: AgentSystem, names: string[]): Promise<void> {
  const { catalog, executor, toolLimits } = system.settings;
  await Promise.all(names.map((name) => {
    const tool = catalog.get(name)!;
    return executor.run({
      name,
      moduleUrl: tool.moduleUrl,
      permissions: tool.permissions,
      limits: resolveLimits(tool.limits, toolLimits),
      callId: "toolu_warm_up",
      input: {},
      timeoutMs: 30_000,
    });
  }));
}
