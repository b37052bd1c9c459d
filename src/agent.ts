/**
 * The library's way in: an agent system built from options alone, no
 * environment variable read.
 *
 * @module
 */
import { DEFAULT_COMPACTION } from "./model/compaction.ts";
import { type ServerTool, serverTool } from "./server_tools.ts";
import { type Effort, EFFORTS, type Thinking, thinkingProblem } from "./model/thinking.ts";
import { dirname } from "node:path";
import { z } from "zod";
import { AgentSystem, type RuntimeSettings } from "../actors/agent_system.ts";
import { CallSlots } from "../actors/call_slots.ts";
import {
  callPolicies,
  DEFAULT_RETRY,
  type RetrySettings,
} from "../actors/scheduler/call_policies.ts";
import { type BreakerSettings, DEFAULT_BREAKER } from "../actors/scheduler/circuit_breakers.ts";
import { defaultMaxWorkers } from "../actors/_default_caps.ts";
import { McpExecutor } from "../actors/mcp/mcp_executor.ts";
import { RoutingExecutor } from "../actors/routing_executor.ts";
import { HostExecutor } from "../actors/tool_host/host_executor.ts";
import { toolPlacement } from "../actors/supervisor/tool_batch.ts";
import type { Isolation, ToolExecutor } from "../actors/tool_executor.ts";
import { WorkerExecutor } from "../actors/tool_worker/worker_executor.ts";
import { SAFE_WITHOUT_SANDBOX, ToolWorker } from "../actors/tool_worker/tool_worker.ts";
import { ConfigError } from "./config_error.ts";
import type { Journal } from "./journal/journal.ts";
import { displayAddress, isPostgresAddress } from "./journal/journal_address.ts";
import { KvJournal } from "./journal/kv_journal.ts";
import { PgJournal } from "./journal/pg_journal.ts";
import type { Sql } from "postgres";
import { openJournal as openJournalAt } from "./journal/open_journal.ts";
import { JournalUnavailable, storageProblem } from "./journal/storage_errors.ts";
import { errorMessage } from "./_error_message.ts";
import { AnthropicModel, DEFAULT_MODEL } from "./model/anthropic_model.ts";
import type { Model } from "./model/model.ts";
import { detectPlatform } from "./platform.ts";
import { checkMcpServers, type McpServers } from "./mcp_servers.ts";
import { BUILTIN_TOOLS_DIR, type CatalogTool, ToolCatalog } from "./tool_catalog.ts";
import { type CallLimits, DEFAULT_LIMITS, limitsSchema, resolveLimits } from "./tool_limits.ts";
import { wholeNumberSchema } from "./whole_number.ts";
import type { ToolLimits } from "./tool.ts";

/** What an agent system is built from; everything but the model has a default. */
export interface AgentOptions {
  /** An Anthropic API key: the model is Claude through `@anthropic-ai/sdk`. */
  apiKey?: string;
  /** Another address for the Messages API (a proxy, a gateway, a fake in tests). */
  baseURL?: string;
  /** Any {@linkcode Model} instead of `apiKey`. */
  model?: Model;
  /** The model name sent to the API. Default `claude-sonnet-5-5`. */
  modelName?: string;
  /**
   * Tool modules, and folders of them (a path or URL ending in `/`); a
   * relative path is resolved against the working directory. Each module
   * default-exports one tool (see `defineTool` in `./tool`).
   */
  tools?: (string | URL)[];
  /**
   * MCP servers whose tools are offered too, as `NAME__TOOL`: a command to
   * start (`{ command, args, env }`, stdio) or an address (`{ url, headers }`,
   * Streamable HTTP). Each is started, and asked for its tools, when the
   * system is created.
   */
  mcpServers?: McpServers;
  /** Also offer the built-in tools (`current_time`, `list_files`, `fetch_url`, `run_javascript`…). Default false. */
  builtinTools?: boolean;
  /**
   * The journal: a Deno KV file path, `":memory:"` (the default), a
   * `postgres://` address, an open `Deno.Kv`, or an npm `postgres` client
   * (the system closes either).
   */
  journal?: string | Deno.Kv | Sql;
  /** The system prompt of conversations created without one. */
  system?: string;
  /** A call of a tool that declares no `timeoutMs` is stopped after this long. Default 30 s. */
  timeoutMs?: number;
  /** A call still running after this long continues as a background task. Default 20 s. */
  turnLimitMs?: number;
  /** Model calls per turn at most. Default 20. */
  maxSteps?: number;
  /** A call waiting for approval (its tool `needsApproval`) is denied after this long. Default: it waits until decided. */
  approvalTimeoutMs?: number;
  /**
   * A task handed to an outside system (`ctx.handOff()`) whose result has
   * not been posted after this long ends as `timed_out`, and the model is
   * told. Default: it waits until the result comes.
   */
  handOffTimeoutMs?: number;
  /**
   * A model reply that sends nothing for this long (the API pings a slow
   * one) is cut and asked for again. Default 60 s.
   */
  modelIdleTimeoutMs?: number;
  /** The most one attempt of a model call may take. Default 10 minutes. */
  modelTimeoutMs?: number;
  /**
   * `"auto"` (the default): once a request fills three quarters of the
   * context window, or the API answers that it is too long, the history
   * before the newest turn is summarized and the model is sent the summary
   * instead. `"off"`: such turns fail, as the API answers.
   */
  compaction?: "auto" | "off";
  /**
   * `"clear_tool_uses"`: the API clears old tool results from what the model
   * reads once the context grows (Claude's context editing), beside
   * compaction; the journal keeps them. Default `"off"`.
   */
  contextEditing?: "clear_tool_uses" | "off";
  /**
   * Prompt caching: the time to live of its breakpoints (on the tools, the
   * system prompt and the end of the history), `"5m"` (the default) or
   * `"1h"`; `"off"` sends none.
   */
  promptCache?: "5m" | "1h" | "off";
  /**
   * Extended thinking of conversations created without their own:
   * `"adaptive"`, `"off"` (the default) or a budget in tokens (at least
   * 1024, below `maxTokens`).
   */
  thinking?: Thinking;
  /** Effort of each reply (`output_config.effort`); the model's default when absent. */
  effort?: Effort;
  /**
   * Anthropic's server tools to offer beside the tools (they run at
   * Anthropic): e.g. `[{ type: "web_search_20250305", name: "web_search", max_uses: 5 }]`,
   * or built with `serverTool("web_search", { max_uses: 5 })`. None by default.
   */
  serverTools?: ServerTool[];
  /** The model's context window, in tokens. Default 200,000. */
  contextWindowTokens?: number;
  /** `max_tokens` of each model call. Default 8192. */
  maxTokens?: number;
  /** Defaults for what one call may use, where its tool declares nothing. */
  limits?: ToolLimits;
  /** Live tool workers at most, over all conversations. Default: from the machine's memory. */
  maxWorkers?: number;
  /** Calls waiting for a worker at most; beyond it they fail at once. Default 10 × `maxWorkers`. */
  maxQueuedCalls?: number;
  /** Retries of tools that declare `idempotent: true`. */
  retry?: Partial<RetrySettings>;
  /** When a tool's circuit breaker opens, and for how long. */
  breaker?: Partial<BreakerSettings>;
  /**
   * Where calls run: `"process"`, in tool host subprocesses (the default),
   * or `"worker"`, in workers of this process (where subprocesses cannot
   * start, as on Deno Deploy, the default there).
   */
  isolation?: Isolation;
  /**
   * With a journal file that several processes share: how long this
   * process counts as alive after each heartbeat. Default 10 s.
   */
  nodeTtlMs?: number;
  /**
   * Set by `deno task serve`: take up every conversation a crash left in
   * the journal, and let tools hand work off to the task routes it serves.
   */
  server?: boolean;
}

const optionNumbers = z.object({
  timeoutMs: wholeNumberSchema("timeoutMs", 1, 86_400_000).optional(),
  turnLimitMs: wholeNumberSchema("turnLimitMs", 1, 86_400_000).optional(),
  maxSteps: wholeNumberSchema("maxSteps", 1, 1_000).optional(),
  approvalTimeoutMs: wholeNumberSchema("approvalTimeoutMs", 1, 30 * 86_400_000).optional(),
  handOffTimeoutMs: wholeNumberSchema("handOffTimeoutMs", 1, 365 * 86_400_000).optional(),
  modelIdleTimeoutMs: wholeNumberSchema("modelIdleTimeoutMs", 100, 3_600_000).optional(),
  contextWindowTokens: wholeNumberSchema("contextWindowTokens", 1_000, 10_000_000).optional(),
  compaction: z.enum(["auto", "off"], { error: 'must be "auto" or "off"' }).optional(),
  promptCache: z.enum(["5m", "1h", "off"], { error: 'must be "5m", "1h" or "off"' }).optional(),
  thinking: z.union([z.enum(["adaptive", "off"]), z.int()], {
    error: 'must be "adaptive", "off" or a budget in tokens',
  }).optional(),
  effort: z.enum(EFFORTS as [Effort, ...Effort[]], {
    error: `must be one of ${EFFORTS.join(", ")}`,
  }).optional(),
  contextEditing: z.enum(["clear_tool_uses", "off"], {
    error: 'must be "clear_tool_uses" or "off"',
  }).optional(),
  modelTimeoutMs: wholeNumberSchema("modelTimeoutMs", 1_000, 3_600_000).optional(),
  maxTokens: wholeNumberSchema("maxTokens", 1, 1_000_000).optional(),
  maxWorkers: wholeNumberSchema("maxWorkers", 1, 100_000).optional(),
  maxQueuedCalls: wholeNumberSchema("maxQueuedCalls", 0, 1_000_000).optional(),
  nodeTtlMs: wholeNumberSchema("nodeTtlMs", 300, 600_000).optional(),
  limits: limitsSchema.optional(),
});

/**
 * Builds an agent system: it loads the tools (each in a sandbox with only
 * its declared permissions), opens the journal and starts the conversations'
 * supervisors on demand. Dispose of it (or `await using` it) to stop its tool
 * hosts and close the journal. Throws a `ConfigError` that says what to fix
 * for a bad option, a tool that does not load, or a journal that cannot open.
 *
 * @example
 * ```ts ignore
 * import { createAgentSystem } from "@agent-runtime/core";
 *
 * await using agents = await createAgentSystem({
 *   apiKey: "sk-ant-…",
 *   tools: [new URL("./tools/", import.meta.url)],
 * });
 * const conversation = await agents.createConversation();
 * conversation.subscribe((event) => console.log(event.type));
 * const result = await conversation.send("What is the weather in Oslo?");
 * if (result.status === "completed") console.log(result.text);
 * ```
 */
export async function createAgentSystem(options: AgentOptions): Promise<AgentSystem> {
  const checked = optionNumbers.safeParse(options);
  if (!checked.success) {
    throw new ConfigError(
      `Bad agent options: ${
        checked.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")
      }`,
    );
  }
  const thinking = options.thinking && thinkingProblem(options.thinking, options.maxTokens ?? 8192);
  if (thinking) throw new ConfigError(`Bad agent options: thinking: ${thinking}.`);
  const serverTools = (options.serverTools ?? []).map(({ type: _, name, ...rest }) =>
    serverTool(name, rest)
  );
  const model = modelOf(options);
  const platform = detectPlatform();
  ToolWorker.sandbox = platform.toolSandbox;
  const isolation = options.isolation ?? platform.toolIsolation;
  const modules: ToolExecutor = isolation === "worker" ? new WorkerExecutor() : new HostExecutor();
  const mcp = new McpExecutor(options.mcpServers ?? {});
  const executor = new RoutingExecutor(modules, mcp);
  try {
    // Without a sandbox, only the built-in tools that need none (the operator's wait for it).
    const sources = platform.toolSandbox === "disabled"
      ? (options.builtinTools ? SAFE_WITHOUT_SANDBOX.map((url) => new URL(url)) : [])
      : [...(options.builtinTools ? [BUILTIN_TOOLS_DIR] : []), ...options.tools ?? []];
    // Started side by side: an MCP server that fetches its package takes a while.
    const [moduleTools, mcpTools] = await Promise.all([
      ToolCatalog.load(sources, modules),
      mcpToolsOf(options, mcp),
    ]);
    const catalog = moduleTools.with(mcpTools);
    const toolLimits = resolveLimits(options.limits, DEFAULT_LIMITS);
    warmHosts(executor, catalog, toolLimits);
    return await AgentSystem.start({
      model,
      modelName: options.modelName ?? DEFAULT_MODEL,
      catalog,
      defaultTimeoutMs: options.timeoutMs ?? 30_000,
      turnLimitMs: options.turnLimitMs ?? 20_000,
      maxSteps: options.maxSteps ?? 20,
      approvalTimeoutMs: options.approvalTimeoutMs,
      handOffTimeoutMs: options.handOffTimeoutMs,
      compaction: {
        enabled: options.compaction !== "off",
        windowTokens: options.contextWindowTokens ?? DEFAULT_COMPACTION.windowTokens,
      },
      maxTokens: options.maxTokens ?? 8192,
      thinking: options.thinking,
      effort: options.effort,
      serverTools,
      handOff: options.server ?? false,
      defaultSystem: options.system,
      executor,
      toolLimits,
      ...schedulerOf(options),
    }, {
      journal: await openJournal(options.journal ?? ":memory:"),
      nodeTtlMs: options.nodeTtlMs,
      recoverAll: options.server ?? false,
    });
  } catch (error) {
    await executor[Symbol.asyncDispose]();
    throw error;
  }
}

/** The tools of the MCP servers in `options`; a ConfigError names each server that did not answer. */
async function mcpToolsOf(options: AgentOptions, mcp: McpExecutor): Promise<CatalogTool[]> {
  checkMcpServers(options.mcpServers ?? {});
  try {
    return await mcp.listTools();
  } catch (error) {
    throw new ConfigError(`Some MCP servers could not be used:\n  ${errorMessage(error)}`);
  }
}

/** The cap on workers and the policies, with the defaults for what the options leave out. */
function schedulerOf(options: AgentOptions): Pick<RuntimeSettings, "slots" | "policies"> {
  const max = options.maxWorkers ?? defaultMaxWorkers();
  return {
    slots: new CallSlots({ max, maxQueued: options.maxQueuedCalls ?? 10 * max }),
    policies: callPolicies({
      breaker: {
        failures: options.breaker?.failures ?? DEFAULT_BREAKER.failures,
        cooldownMs: options.breaker?.cooldownMs ?? DEFAULT_BREAKER.cooldownMs,
      },
      retry: {
        retries: options.retry?.retries ?? DEFAULT_RETRY.retries,
        backoffMs: options.retry?.backoffMs ?? DEFAULT_RETRY.backoffMs,
      },
    }),
  };
}

function modelOf(
  { apiKey, baseURL, model, modelIdleTimeoutMs, modelTimeoutMs, contextEditing, promptCache }:
    AgentOptions,
): Model {
  if (model && apiKey) throw new ConfigError("Give either `apiKey` or `model`, not both.");
  if (model) return model;
  if (!apiKey) {
    throw new ConfigError(
      "No model: give `apiKey` (an Anthropic API key) or `model` (any Model) to createAgentSystem.",
    );
  }
  return new AnthropicModel({
    apiKey,
    baseURL,
    idleTimeoutMs: modelIdleTimeoutMs,
    callTimeoutMs: modelTimeoutMs,
    contextEditing,
    promptCache,
  });
}

/**
 * Starts a host for each profile the tools need, off the first turn's path
 * (started by the first turn instead, they took its CPU: a first turn of a
 * model that answers at once took 320-460 ms instead of 20-50).
 */
function warmHosts(executor: ToolExecutor, catalog: ToolCatalog, limits: CallLimits): void {
  executor.offer(
    catalog.list()
      .filter((tool) => tool.isolation !== "conversation") // its hosts start with its calls
      .map((tool) => toolPlacement(tool, limits)),
  );
}

/** The journal did not open: a {@linkcode ConfigError} its caller may add where the path came from to. */
export class JournalOpenError extends ConfigError {
  override name = "JournalOpenError";
}

/**
 * Opens the journal at `journal`: a PostgreSQL URL or client, or a Deno KV
 * file (its folder created), ":memory:", "" for the platform's own KV, or
 * an open `Deno.Kv`.
 */
async function openJournal(journal: string | Deno.Kv | Sql): Promise<Journal> {
  if (typeof journal === "object") return new KvJournal(journal);
  try {
    if (typeof journal === "function") return await PgJournal.withClient(journal);
    const isFile = journal && journal !== ":memory:" && !isPostgresAddress(journal);
    if (isFile) await Deno.mkdir(dirname(journal), { recursive: true });
    return await openJournalAt(journal || undefined);
  } catch (error) {
    const problem = error instanceof JournalUnavailable
      ? error.reason
      : storageProblem(error) ?? errorMessage(error);
    const where = typeof journal === "function"
      ? "the PostgreSQL client given"
      : displayAddress(journal) || "the platform's KV";
    throw new JournalOpenError(`Cannot open the journal at ${where}: ${problem}.`);
  }
}
