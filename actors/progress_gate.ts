/**
 * Passes a call's progress on at a bounded rate and size: a tool that
 * reports in a tight loop costs the runtime no more than one that reports
 * politely. Between two passes, only the latest text is kept.
 *
 * @module
 */
import { cutText } from "../src/limit_result.ts";

/** A gate for one call's progress; `close()` drops what is still held. */
export interface ProgressGate {
  push(text: string): void;
  close(): void;
}

/**
 * Forwards at most `perSecond` texts a second, each cut to `maxBytes`; a
 * text pushed too soon replaces any held one and goes out when the
 * interval is up.
 *
 * @example
 * ```ts
 * import { progressGate } from "./progress_gate.ts";
 * import { assertEquals } from "@std/assert";
 * const seen: string[] = [];
 * const gate = progressGate(1, 64, (text) => seen.push(text));
 * gate.push("1/3");
 * gate.push("2/3");
 * gate.push("3/3");
 * gate.close();
 * assertEquals(seen, ["1/3"]);
 * ```
 */
export function progressGate(
  perSecond: number,
  maxBytes: number,
  forward: (text: string) => void,
): ProgressGate {
  const interval = 1000 / perSecond;
  let last = -Infinity;
  let held: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = (text: string) => {
    last = performance.now();
    forward(cutText(text, maxBytes));
  };
  const release = () => {
    timer = undefined;
    if (held !== undefined) send(held);
    held = undefined;
  };
  return {
    push(text) {
      const wait = last + interval - performance.now();
      if (wait <= 0 && timer === undefined) return send(text);
      held = text;
      timer ??= setTimeout(release, Math.max(0, wait));
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      held = undefined;
    },
  };
}
