/**
 * What every conversation of a system shares: the model, the tools, and
 * the limits and policies its turns run under.
 *
 * @module
 */
import type { Model } from "../src/model/model.ts";
import type { ToolCatalog } from "../src/tool_catalog.ts";
import type { CallLimits } from "../src/tool_limits.ts";
import type { CompactionSettings } from "../src/model/compaction.ts";
import type { Effort, Thinking } from "../src/model/thinking.ts";
import type { ServerTool } from "../src/server_tools.ts";
import type { CallSlots } from "./call_slots.ts";
import type { CallPolicies } from "./scheduler/call_policies.ts";
import type { ToolExecutor } from "./tool_executor.ts";

/** What every conversation of a system shares. */
export interface RuntimeSettings {
  model: Model;
  /** Default model name sent to the API. */
  modelName: string;
  catalog: ToolCatalog;
  defaultTimeoutMs: number;
  /** How long a tool call may hold up its turn before it continues as a background task. */
  turnLimitMs: number;
  maxSteps: number;
  maxTokens: number;
  /** Whether tools may hand work off (`ctx.handOff()`): only where the task routes are served. */
  handOff: boolean;
  /** The system prompt of conversations created without one. */
  defaultSystem?: string;
  /** Where tool calls run: tool host processes, or workers of this process. The system stops it. */
  executor: ToolExecutor;
  /** The operator's defaults for what one call may use. */
  toolLimits: CallLimits;
  /** The cap on live tool workers over every conversation, and its waiting line. */
  slots: CallSlots;
  /** Circuit breakers, per-tool limits and retry defaults, shared by every conversation. */
  policies: CallPolicies;
  /** Whether and when a history that outgrows the context window is summarized. */
  compaction: CompactionSettings;
  /** How long a call may wait for approval before it is denied; none waits until decided. */
  approvalTimeoutMs?: number;
  /** How long a handed-off task waits for its result before it ends timed out; none waits on. */
  handOffTimeoutMs?: number;
  /** Anthropic's server tools, sent beside the catalog's (conversations limited by `tools` get those named). */
  serverTools?: ServerTool[];
  /** Extended thinking of conversations created without their own; off when absent. */
  thinking?: Thinking;
  /** Effort of conversations created without their own; the model's default when absent. */
  effort?: Effort;
  /** Now, in epoch ms, for what the journal records; `Date.now` unless a test injects one. */
  clock?: () => number;
}
