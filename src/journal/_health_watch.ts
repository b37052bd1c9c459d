/**
 * A store's health as its operations find it: unhealthy from the first
 * operation that fails because of the store, healthy again at the next
 * that succeeds.
 *
 * @module
 */
import type { JournalHealth } from "./journal.ts";
import { JournalUnavailable } from "./storage_errors.ts";

/**
 * Runs a journal's operations and keeps its health.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { HealthWatch } from "./_health_watch.ts";
 * const watch = new HealthWatch((error) => String(error).includes("full") ? "the disk is full" : undefined);
 * await assertRejects(() => watch.run(() => Promise.reject(new Error("disk full"))));
 * assertEquals(watch.health.ok, false);
 * assertEquals(await watch.run(() => Promise.resolve(1)), 1);
 * assertEquals(watch.health, { ok: true });
 * ```
 */
export class HealthWatch {
  readonly #problemOf: (error: unknown) => string | undefined;
  #health: JournalHealth = { ok: true };

  /** `problemOf` reads an error as the store's problem, or undefined when it is not the store's. */
  constructor(problemOf: (error: unknown) => string | undefined) {
    this.#problemOf = problemOf;
  }

  get health(): JournalHealth {
    return this.#health;
  }

  /**
   * Runs `operation`; a failure of the store becomes a
   * {@linkcode JournalUnavailable} saying why, anything else is thrown as it is.
   */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      const value = await operation();
      if (!this.#health.ok) this.#health = { ok: true };
      return value;
    } catch (error) {
      const reason = this.#problemOf(error);
      if (!reason) throw error;
      if (this.#health.ok) this.#health = { ok: false, reason, since: Date.now() };
      throw new JournalUnavailable(reason);
    }
  }
}
