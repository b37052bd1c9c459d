/**
 * Builds the actor system from the command line and the environment; the
 * CLI and the HTTP server start the same way.
 *
 * @module
 */
import { dirname } from "node:path";
import { AgentSystem } from "../actors/agent_system.ts";
import { CallSlots } from "../actors/call_slots.ts";
import {
  type CallPolicies,
  callPolicies,
  DEFAULT_RETRY,
} from "../actors/scheduler/call_policies.ts";
import { DEFAULT_BREAKER } from "../actors/scheduler/circuit_breakers.ts";
import { defaultMaxWorkers } from "../actors/_default_caps.ts";
import { HostExecutor } from "../actors/tool_host/host_executor.ts";
import { WorkerExecutor } from "../actors/tool_worker/worker_executor.ts";
import { ToolWorker } from "../actors/tool_worker/tool_worker.ts";
import { type CallLimits, limitsFromEnv, resolveLimits } from "./tool_limits.ts";
import { detectPlatform, type Platform } from "./platform.ts";
import type { CliOptions } from "./cli/args.ts";
import { ConfigError } from "./config_error.ts";
import { Journal } from "./journal/journal.ts";
import { JournalUnavailable, storageProblem } from "./journal/storage_errors.ts";
import { AnthropicModel, DEFAULT_MODEL } from "./model/anthropic_model.ts";
import type { Model } from "./model/model.ts";
import { OfflineModel } from "./model/offline_model.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "./tool_catalog.ts";
import { wholeNumber } from "./whole_number.ts";
import { errorMessage } from "./_error_message.ts";

/** Where the journal lives when `AGENT_DATA` does not say. */
export const DEFAULT_DATA_PATH = ".agent/journal.kv";

/**
 * Detects the platform, opens the journal, loads the tools and picks the
 * model. Throws a ConfigError for bad tools or an unusable journal.
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
    "toolDirs" | "model" | "timeoutMs" | "turnLimitMs" | "maxSteps" | "system"
  >,
  { server }: { server: boolean },
): Promise<Runtime> {
  const platform = detectPlatform();
  ToolWorker.sandbox = platform.toolSandbox;
  const model = modelFromEnvironment();
  const executor = platform.toolIsolation === "worker" ? new WorkerExecutor() : new HostExecutor();
  const catalog = platform.toolSandbox === "disabled"
    ? new ToolCatalog([])
    : await ToolCatalog.load([BUILTIN_TOOLS_DIR, ...options.toolDirs], executor)
      .catch(async (error) => {
        await executor[Symbol.asyncDispose]();
        throw error;
      });
  if (platform.toolSandbox !== "per-worker") {
    console.error(
      `Warning: tool sandbox is "${platform.toolSandbox}" (per-worker permissions are not confirmed here).`,
    );
  }
  const dataPath = Deno.env.get("AGENT_DATA") || (platform.deploy ? "" : DEFAULT_DATA_PATH);
  const toolLimits = limitsFromEnv();
  const slots = callSlotsFromEnv();
  const policies = callPoliciesFromEnv();
  if (executor instanceof HostExecutor) warmHosts(executor, catalog, toolLimits);
  const system = await AgentSystem.start({
    model,
    modelName: options.model ?? Deno.env.get("AGENT_MODEL") ?? DEFAULT_MODEL,
    catalog,
    defaultTimeoutMs: options.timeoutMs,
    turnLimitMs: options.turnLimitMs,
    maxSteps: options.maxSteps,
    maxTokens: 8192,
    handOff: server,
    defaultSystem: options.system,
    executor,
    toolLimits,
    slots,
    policies,
  }, {
    journal: await openJournal(dataPath),
    nodeTtlMs: wholeNumber(
      "AGENT_NODE_TTL_MS",
      Deno.env.get("AGENT_NODE_TTL_MS"),
      10_000,
      300,
      600_000,
    ),
    recoverAll: server,
  });
  return {
    system,
    platform,
    dataPath: dataPath || "Deno KV of the platform",
    [Symbol.asyncDispose]: () => system[Symbol.asyncDispose](),
  };
}

/** Starts the hosts the tools need now, off the first call's path. */
function warmHosts(executor: HostExecutor, catalog: ToolCatalog, limits: CallLimits): void {
  executor.warm(
    catalog.list().map((tool) => ({ ...tool, limits: resolveLimits(tool.limits, limits) })),
  );
}

function callSlotsFromEnv(): CallSlots {
  const max = wholeNumber(
    "AGENT_MAX_WORKERS",
    Deno.env.get("AGENT_MAX_WORKERS"),
    defaultMaxWorkers(),
    1,
    100_000,
  );
  const maxQueued = wholeNumber(
    "AGENT_MAX_QUEUED_CALLS",
    Deno.env.get("AGENT_MAX_QUEUED_CALLS"),
    10 * max,
    0,
    1_000_000,
  );
  return new CallSlots({ max, maxQueued });
}

function callPoliciesFromEnv(): CallPolicies {
  const env = (name: string, fallback: number, min: number, max: number) =>
    wholeNumber(name, Deno.env.get(name), fallback, min, max);
  return callPolicies({
    breaker: {
      failures: env("AGENT_BREAKER_FAILURES", DEFAULT_BREAKER.failures, 1, 1000),
      cooldownMs: env("AGENT_BREAKER_COOLDOWN_MS", DEFAULT_BREAKER.cooldownMs, 100, 3_600_000),
    },
    retry: {
      retries: env("AGENT_TOOL_RETRIES", DEFAULT_RETRY.retries, 0, 10),
      backoffMs: env("AGENT_RETRY_BACKOFF_MS", DEFAULT_RETRY.backoffMs, 1, 60_000),
    },
  });
}

/** A started runtime; disposing it stops the system and closes the journal. */
export interface Runtime extends AsyncDisposable {
  system: AgentSystem;
  platform: Platform;
  /** Where the journal is. */
  dataPath: string;
}

/** Opens the journal at `path`, creating its folder; "" is the platform's own KV. */
async function openJournal(path: string): Promise<Journal> {
  try {
    if (path && path !== ":memory:") await Deno.mkdir(dirname(path), { recursive: true });
    return await Journal.open(path || undefined);
  } catch (error) {
    const problem = error instanceof JournalUnavailable
      ? error.reason
      : storageProblem(error) ?? errorMessage(error);
    throw new ConfigError(
      `Cannot open the journal at ${
        path || "the platform's KV"
      }: ${problem} (AGENT_DATA sets where it is).`,
    );
  }
}

/**
 * The API key is read once and then removed from the environment, so that
 * not even a tool granted `env: true` can read it.
 */
function modelFromEnvironment(): Model {
  const apiKey = Deno.env.get("ANTHROPIC_API_KEY");
  if (!apiKey) {
    console.error(
      "No ANTHROPIC_API_KEY: using the built-in offline demo model (it runs real tools, but is not Claude).",
    );
    return new OfflineModel();
  }
  Deno.env.delete("ANTHROPIC_API_KEY");
  return new AnthropicModel({ apiKey, baseURL: Deno.env.get("ANTHROPIC_BASE_URL") || undefined });
}
