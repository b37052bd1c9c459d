/**
 * Builds the actor system from the command line and the environment; the
 * CLI and the HTTP server start the same way.
 *
 * @module
 */
import { displayAddress } from "./journal/journal_address.ts";
import { MAX_OUTPUT_TOKENS } from "./model/reply.ts";
import type { AgentSystem } from "../actors/agent_system.ts";
import { createAgentSystem, JournalOpenError } from "./agent.ts";
import { type CliOptions, effortFlag, thinkingFlag } from "./cli/args.ts";
import { ConfigError } from "./config_error.ts";
import { DEFAULT_MODEL } from "./model/anthropic_model.ts";
import type { Model } from "./model/model.ts";
import { OfflineModel } from "./model/offline_model.ts";
import { detectPlatform, type Platform } from "./platform.ts";
import { limitsFromEnv } from "./tool_limits.ts";
import { wholeNumber } from "./whole_number.ts";

/** Where the journal lives when `AGENT_DATA` does not say. */
export const DEFAULT_DATA_PATH = ".agent/journal.kv";

/**
 * The agent system as the CLI and the server build it: the built-in tools
 * and `--tools` folders, the model from `ANTHROPIC_API_KEY` (or the offline
 * demo model), the journal at `AGENT_DATA`, and the operator's defaults from
 * the environment. Throws a ConfigError for bad tools, settings or journal.
 *
 * A server (`server: true`) takes up every conversation a crash left, and
 * serves the route that handed-off tasks deliver to; the CLI does neither.
 *
 * @example
 * ```ts ignore
 * await using runtime = await createRuntime(parseCliArgs(Deno.args), { server: false });
 * const conversation = await runtime.system.createConversation();
 * ```
 */
export async function createRuntime(
  options: Pick<
    CliOptions,
    | "toolDirs"
    | "mcpServers"
    | "model"
    | "timeoutMs"
    | "turnLimitMs"
    | "maxSteps"
    | "maxTokens"
    | "thinking"
    | "effort"
    | "serverTools"
    | "system"
  >,
  { server }: { server: boolean },
): Promise<Runtime> {
  const platform = detectPlatform();
  if (platform.toolSandbox !== "per-worker") console.error(SANDBOX_WARNING[platform.toolSandbox]);
  const dataPath = Deno.env.get("AGENT_DATA") || (platform.deploy ? "" : DEFAULT_DATA_PATH);
  const env = (name: string, min: number, max: number) => {
    const raw = Deno.env.get(name);
    return raw ? wholeNumber(name, raw, 0, min, max) : undefined;
  };
  const system = await createAgentSystem({
    ...modelFromEnvironment(),
    modelName: options.model ?? Deno.env.get("AGENT_MODEL") ?? DEFAULT_MODEL,
    tools: options.toolDirs,
    mcpServers: options.mcpServers,
    builtinTools: true,
    journal: dataPath,
    system: options.system,
    timeoutMs: options.timeoutMs,
    turnLimitMs: options.turnLimitMs,
    maxSteps: options.maxSteps,
    maxTokens: options.maxTokens ?? env("AGENT_MAX_TOKENS", 1, MAX_OUTPUT_TOKENS),
    modelIdleTimeoutMs: env("AGENT_MODEL_IDLE_TIMEOUT_MS", 100, 3_600_000),
    contextWindowTokens: env("AGENT_CONTEXT_WINDOW_TOKENS", 1_000, 10_000_000),
    compaction: oneOf("AGENT_COMPACTION", ["auto", "off"]),
    contextEditing: oneOf("AGENT_CONTEXT_EDITING", ["clear_tool_uses", "off"]),
    promptCache: oneOf("AGENT_PROMPT_CACHE", ["5m", "1h", "off"]),
    serverTools: options.serverTools,
    thinking: options.thinking ?? fromEnv("AGENT_THINKING", thinkingFlag),
    effort: options.effort ?? fromEnv("AGENT_EFFORT", effortFlag),
    modelTimeoutMs: env("AGENT_MODEL_TIMEOUT_MS", 1_000, 3_600_000),
    approvalTimeoutMs: env("AGENT_APPROVAL_TIMEOUT_MS", 1, 30 * 86_400_000),
    handOffTimeoutMs: env("AGENT_HANDOFF_TIMEOUT_MS", 1, 365 * 86_400_000),
    limits: limitsFromEnv(),
    maxWorkers: env("AGENT_MAX_WORKERS", 1, 100_000),
    maxQueuedCalls: env("AGENT_MAX_QUEUED_CALLS", 0, 1_000_000),
    breaker: {
      failures: env("AGENT_BREAKER_FAILURES", 1, 1000),
      cooldownMs: env("AGENT_BREAKER_COOLDOWN_MS", 100, 3_600_000),
    },
    retry: {
      retries: env("AGENT_TOOL_RETRIES", 0, 10),
      backoffMs: env("AGENT_RETRY_BACKOFF_MS", 1, 60_000),
    },
    nodeTtlMs: env("AGENT_NODE_TTL_MS", 300, 600_000),
    server,
  }).catch((error) => {
    if (error instanceof JournalOpenError) {
      throw new ConfigError(`${error.message} (AGENT_DATA sets where it is)`);
    }
    throw error;
  });
  return {
    system,
    platform,
    dataPath: displayAddress(dataPath) || "Deno KV of the platform",
    [Symbol.asyncDispose]: () => system[Symbol.asyncDispose](),
  };
}

/** What the operator is told where tools cannot get per-worker permissions, and which switch does what. */
const SANDBOX_WARNING = {
  disabled:
    "Warning: only the built-in current_time and fetch_url are offered (they need no sandbox): per-worker permissions are not confirmed on this platform, so no other tool runs. Set AGENT_WORKER_PERMISSIONS=on where workers accept their own permissions (verified on Deno Deploy), or AGENT_UNSANDBOXED_TOOLS=1 to run tools with this process's permissions.",
  host:
    "Warning: tools run with this process's permissions (AGENT_UNSANDBOXED_TOOLS=1), not their own; set AGENT_WORKER_PERMISSIONS=on instead where workers accept their own permissions.",
} as const;

/** A started runtime; disposing it stops the system and closes the journal. */
export interface Runtime extends AsyncDisposable {
  system: AgentSystem;
  platform: Platform;
  /** Where the journal is. */
  dataPath: string;
}

/**
 * The API key is read once and then removed from the environment, so that
 * not even a tool granted `env: true` can read it.
 */
function modelFromEnvironment(): { apiKey: string; baseURL?: string } | { model: Model } {
  const apiKey = Deno.env.get("ANTHROPIC_API_KEY");
  if (!apiKey) {
    console.error(
      "No ANTHROPIC_API_KEY: using the built-in offline demo model (it runs real tools, but is not Claude).",
    );
    return { model: new OfflineModel() };
  }
  Deno.env.delete("ANTHROPIC_API_KEY");
  return { apiKey, baseURL: Deno.env.get("ANTHROPIC_BASE_URL") || undefined };
}

/** The environment variable `name` as `parse` reads it; undefined when unset or empty. */
function fromEnv<T>(name: string, parse: (name: string, value: string) => T): T | undefined {
  const value = Deno.env.get(name);
  return value ? parse(name, value) : undefined;
}

/** The environment variable `name`, one of `values`; undefined when unset or empty. */
function oneOf<const T extends string>(name: string, values: readonly T[]): T | undefined {
  const value = Deno.env.get(name);
  if (!value) return undefined;
  if ((values as readonly string[]).includes(value)) return value as T;
  const choices = values.map((choice) => `"${choice}"`).join(" or ");
  throw new ConfigError(`${name} must be ${choices}, got "${value}".`);
}
