/**
 * The cap on what a tool call sends back: measured in UTF-8 bytes on the
 * text that is actually sent, whatever the tool returned.
 *
 * @module
 */

import { blocksBytes, type ToolResultBlock } from "./tool_result_blocks.ts";

/** Largest tool result kept whole by default, in UTF-8 bytes (`AGENT_TOOL_RESULT_BYTES`). */
export const MAX_RESULT_BYTES = 1024 * 1024;

/**
 * What the results of one batch of calls may add up to, in UTF-8 bytes: the
 * API refuses a request over 32 MB, and the rest of the history needs room.
 */
export const BATCH_RESULT_BYTES = 16 * 1024 * 1024;

/**
 * What is left of a batch's room for results; each result takes what it
 * needs of it, and one that finds too little is cut to what is left.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ResultBudget } from "./limit_result.ts";
 * const budget = new ResultBudget(1000);
 * assertEquals(budget.take("x".repeat(600)).length, 600);
 * assertEquals(new TextEncoder().encode(budget.take("y".repeat(600))).length <= 400, true);
 * ```
 */
export class ResultBudget {
  constructor(public left: number = BATCH_RESULT_BYTES) {}

  /**
   * A result with images and documents, taken whole if it fits in what is
   * left; else its description alone, with a note (blocks cannot be cut).
   */
  takeBlocks(
    content: string,
    blocks: ToolResultBlock[] | undefined,
  ): { content: string; blocks?: ToolResultBlock[] } {
    if (!blocks) return { content: this.take(content) };
    const bytes = blocksBytes(blocks);
    if (bytes <= this.left) {
      this.left -= bytes;
      return { content, blocks };
    }
    return {
      content: this.take(
        `${content}\n[These images and documents (${bytes} bytes) did not fit in what this step's results may add up to, so only their description is sent.]`,
      ),
    };
  }

  /** `content`, cut to what is left (with the runtime's note), and taken from it. */
  take(content: string): string {
    const kept = limitResult(content, Math.max(this.left, MIN_KEPT_BYTES));
    this.left = Math.max(0, this.left - new TextEncoder().encode(kept).length);
    return kept;
  }
}

/** Even the last result of a full batch keeps this much, enough for its note. */
const MIN_KEPT_BYTES = 200;

/**
 * Cuts a result longer than `maxBytes` and says so at the end, in words the
 * model reads; the cut result, note included, fits in `maxBytes`. Never
 * encodes more than `maxBytes` characters of a very long text.
 *
 * @example
 * ```ts
 * import { limitResult } from "./limit_result.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(limitResult("short"), "short");
 * const cut = limitResult("x".repeat(5000), 1000);
 * assertEquals(cut.startsWith("xxx"), true);
 * assertEquals(new TextEncoder().encode(cut).length <= 1000, true);
 * ```
 */
export function limitResult(content: string, maxBytes = MAX_RESULT_BYTES): string {
  if (cutText(content, maxBytes) === content) return content;
  const size = content.length <= 4 * maxBytes
    ? `${new TextEncoder().encode(content).length} bytes`
    : `${content.length} characters`;
  // The note counts against the limit, so a cut result is itself within it.
  const note = (kept: number) =>
    `\n[Truncated by the runtime: the tool returned ${size}; only the first ${kept} bytes are kept.]`;
  const room = Math.max(0, maxBytes - new TextEncoder().encode(note(maxBytes)).length);
  return cutText(content, room) + note(room);
}

/**
 * The longest start of `text` that fits in `maxBytes` of UTF-8 (the text
 * itself if it fits), without a character cut in half.
 *
 * @example
 * ```ts
 * import { cutText } from "./limit_result.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(cutText("héllo", 2), "h");
 * ```
 */
export function cutText(text: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return text;
  const head = new TextEncoder().encode(text.slice(0, maxBytes + 1));
  if (head.length <= maxBytes) return text; // the slice was the whole text
  // fatal: false turns a character cut in half at the end into U+FFFD, dropped here
  return new TextDecoder().decode(head.subarray(0, maxBytes)).replace(/\uFFFD$/, "");
}
