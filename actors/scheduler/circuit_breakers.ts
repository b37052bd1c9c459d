/**
 * A circuit breaker per tool: after a run of failures, calls of the tool
 * fail fast (the model is told until when) instead of each waiting for a
 * broken dependency; after a cool-down one trial call decides whether the
 * tool is back.
 *
 * @module
 */

/** When a breaker opens, and for how long. */
export interface BreakerSettings {
  /** Consecutive failures or timeouts that open the breaker. */
  failures: number;
  /** How long it stays open before a trial call. */
  cooldownMs: number;
}

/** Operator defaults: `AGENT_BREAKER_FAILURES`, `AGENT_BREAKER_COOLDOWN_MS`. */
export const DEFAULT_BREAKER: BreakerSettings = { failures: 5, cooldownMs: 30_000 };

/** One tool's breaker, as `/healthz` and `/v1/tools` show it. */
export type BreakerState =
  | { state: "closed"; failures: number }
  | { state: "open"; failures: number; until: string }
  | { state: "half_open"; failures: number };

interface Breaker {
  failures: number;
  openUntil?: number;
  probing: boolean;
}

/**
 * The breakers of every tool, shared by every conversation.
 *
 * @example
 * ```ts
 * import { CircuitBreakers } from "./circuit_breakers.ts";
 * import { assertEquals } from "@std/assert";
 * let now = 0;
 * const breakers = new CircuitBreakers({ failures: 2, cooldownMs: 1000 }, () => now);
 * breakers.record("lookup", false);
 * breakers.record("lookup", false);
 * assertEquals(breakers.state("lookup").state, "open");
 * now = 1000;
 * assertEquals(breakers.admit("lookup"), undefined); // the trial call
 * ```
 */
export class CircuitBreakers {
  readonly #settings: BreakerSettings;
  readonly #clock: () => number;
  readonly #breakers = new Map<string, Breaker>();

  constructor(settings: BreakerSettings = DEFAULT_BREAKER, clock: () => number = Date.now) {
    this.#settings = settings;
    this.#clock = clock;
  }

  /**
   * `undefined` if a call of `tool` may run now (after the cool-down, the
   * first call is the trial); else why not, for the model.
   */
  admit(tool: string): string | undefined {
    const breaker = this.#breakers.get(tool);
    if (breaker?.openUntil === undefined) return undefined;
    if (this.#clock() >= breaker.openUntil && !breaker.probing) {
      breaker.probing = true;
      return undefined;
    }
    const after = new Date(Math.max(breaker.openUntil, this.#clock())).toISOString();
    return `The tool "${tool}" is unavailable: its last ${breaker.failures} calls failed or timed out, so it is not being called until ${after}${
      breaker.probing ? " (a trial call is under way)" : ""
    }. Do without it, or call it again after that time.`;
  }

  /** Counts a call's outcome: `ok` closes the breaker, failures open it. */
  record(tool: string, ok: boolean): void {
    const breaker = this.#breakers.get(tool) ?? { failures: 0, probing: false };
    if (ok) return void this.#breakers.delete(tool);
    breaker.failures++;
    if (breaker.probing || breaker.failures >= this.#settings.failures) {
      breaker.openUntil = this.#clock() + this.#settings.cooldownMs;
      breaker.probing = false;
    }
    this.#breakers.set(tool, breaker);
  }

  /** The breaker of `tool`. */
  state(tool: string): BreakerState {
    const breaker = this.#breakers.get(tool);
    if (breaker?.openUntil === undefined) {
      return { state: "closed", failures: breaker?.failures ?? 0 };
    }
    if (breaker.probing || this.#clock() >= breaker.openUntil) {
      return { state: "half_open", failures: breaker.failures };
    }
    const until = new Date(breaker.openUntil).toISOString();
    return { state: "open", failures: breaker.failures, until };
  }

  /** The breakers that are not closed, by tool. */
  tripped(): Record<string, BreakerState> {
    return Object.fromEntries(
      [...this.#breakers.keys()]
        .map((tool) => [tool, this.state(tool)] as const)
        .filter(([, state]) => state.state !== "closed"),
    );
  }
}
