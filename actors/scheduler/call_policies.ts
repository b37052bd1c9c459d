/**
 * What the scheduler applies to every call besides the cap on workers: the
 * breakers and gates shared by all conversations, and the retry defaults.
 *
 * @module
 */
import { type BreakerSettings, CircuitBreakers, DEFAULT_BREAKER } from "./circuit_breakers.ts";
import { ToolGates } from "./tool_gates.ts";
import type { CallPriority, ToolDeclaration } from "../../src/tool.ts";

/** The operator's defaults for retries of idempotent tools. */
export interface RetrySettings {
  /** Extra attempts after a failure or timeout (a tool's `retries` overrides it). */
  retries: number;
  /** The first backoff; each next one doubles, with up to half of it taken off at random. */
  backoffMs: number;
}

/** Operator defaults: `AGENT_TOOL_RETRIES`, `AGENT_RETRY_BACKOFF_MS`. */
export const DEFAULT_RETRY: RetrySettings = { retries: 2, backoffMs: 250 };

/**
 * How many times a call of `tool` is retried: its `retries` (or the
 * operator's default) if it is idempotent, else never.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY, retriesOf } from "./call_policies.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(retriesOf({ idempotent: true }, DEFAULT_RETRY), 2);
 * assertEquals(retriesOf({ retries: 5 }, DEFAULT_RETRY), 0);
 * ```
 */
export function retriesOf(
  tool: Pick<ToolDeclaration, "idempotent" | "retries">,
  defaults: RetrySettings,
): number {
  return tool.idempotent ? tool.retries ?? defaults.retries : 0;
}

/**
 * How urgent a tool's calls are when they wait for a worker: the tool's
 * `priority`, else `low` for background tools and `normal` for the rest.
 *
 * @example
 * ```ts
 * import { priorityOf } from "./call_policies.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(priorityOf({ background: true }), "low");
 * assertEquals(priorityOf({ background: true, priority: "normal" }), "normal");
 * assertEquals(priorityOf({}), "normal");
 * ```
 */
export function priorityOf(tool: Pick<ToolDeclaration, "background" | "priority">): CallPriority {
  return tool.priority ?? (tool.background ? "low" : "normal");
}

/** The policies of one runtime. */
export interface CallPolicies {
  breakers: CircuitBreakers;
  gates: ToolGates;
  retry: RetrySettings;
}

/**
 * Policies with the given settings, defaults for the rest.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { callPolicies } from "./call_policies.ts";
 * const policies = callPolicies({ retry: { retries: 0, backoffMs: 250 } });
 * assertEquals(policies.breakers.state("lookup").state, "closed");
 * ```
 */
export function callPolicies(
  settings: { breaker?: BreakerSettings; retry?: RetrySettings; clock?: () => number } = {},
): CallPolicies {
  return {
    breakers: new CircuitBreakers(settings.breaker ?? DEFAULT_BREAKER, settings.clock),
    gates: new ToolGates(),
    retry: settings.retry ?? DEFAULT_RETRY,
  };
}
