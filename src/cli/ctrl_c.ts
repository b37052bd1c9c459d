/**
 * What a Ctrl-C means at the CLI.
 *
 * One key press can arrive as several SIGINTs: the terminal signals its
 * whole foreground process group, and `deno task`, in that group, passes
 * the signal on to the program once more, a moment later (2 to 7 ms here,
 * under load too; the cancelled turn may have ended in between). So
 * a SIGINT soon after the previous one is the same key press, whatever
 * happened in between.
 *
 * @module
 */

/** What a SIGINT asks for. */
export type CtrlCAction =
  /** Cancel the running turn. */
  | "cancel"
  /** Nothing: the same key press as the SIGINT before it. */
  | "same key press"
  /** End the CLI: no turn runs, or the cancel was not enough. */
  | "quit";

/** How soon after a SIGINT another one is the same key press. */
export const SAME_KEY_PRESS_MS = 500;

/**
 * Tells, for each SIGINT, what it asks for.
 *
 * @example A second SIGINT soon after the first is the same key press, even once the turn has ended
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CtrlC } from "./ctrl_c.ts";
 *
 * let now = 0;
 * const ctrlC = new CtrlC(() => now);
 * assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
 * ctrlC.turnEnded();
 * now = 120;
 * assertEquals(ctrlC.pressed({ turnRunning: false }), "same key press");
 * now = 5000;
 * assertEquals(ctrlC.pressed({ turnRunning: false }), "quit");
 * ```
 */
export class CtrlC {
  readonly #now: () => number;
  #lastSignalAt = -Infinity;
  #cancelling = false;

  /** `now` is the clock in milliseconds (`performance.now` unless a test gives its own). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A SIGINT arrived, while a turn runs or not. */
  pressed({ turnRunning }: { turnRunning: boolean }): CtrlCAction {
    const now = this.#now();
    const sameKeyPress = now - this.#lastSignalAt < SAME_KEY_PRESS_MS;
    this.#lastSignalAt = now;
    if (sameKeyPress) return "same key press";
    if (!turnRunning || this.#cancelling) return "quit";
    this.#cancelling = true;
    return "cancel";
  }

  /** The running turn ended: the next Ctrl-C cancels the next turn. */
  turnEnded(): void {
    this.#cancelling = false;
  }
}
