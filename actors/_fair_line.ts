/**
 * A waiting line served in turn per owner: one owner with many waiters
 * cannot starve the others.
 *
 * @module
 */

/**
 * Items per owner, served round robin.
 *
 * @example
 * ```ts
 * import { FairLine } from "./_fair_line.ts";
 * import { assertEquals } from "@std/assert";
 * const line = new FairLine<string>();
 * line.push("a", "a1");
 * line.push("a", "a2");
 * line.push("b", "b1");
 * assertEquals([line.shift(), line.shift(), line.shift()], ["a1", "b1", "a2"]);
 * ```
 */
export class FairLine<T> {
  /** Items per owner, in the order owners are served. */
  readonly #lines = new Map<string, T[]>();
  #size = 0;

  /** Items waiting. */
  get size(): number {
    return this.#size;
  }

  push(owner: string, item: T): void {
    const line = this.#lines.get(owner);
    if (line) line.push(item);
    else this.#lines.set(owner, [item]);
    this.#size++;
  }

  /** Takes `item` out of the line; false if it was not in it. */
  remove(owner: string, item: T): boolean {
    const line = this.#lines.get(owner);
    const at = line?.indexOf(item) ?? -1;
    if (at < 0) return false;
    line!.splice(at, 1);
    if (line!.length === 0) this.#lines.delete(owner);
    this.#size--;
    return true;
  }

  /** The next item of the owner whose turn it is; that owner then goes to the back. */
  shift(): T | undefined {
    const [owner, line] = this.#lines.entries().next().value ?? [];
    if (owner === undefined || !line) return undefined;
    const item = line.shift()!;
    this.#lines.delete(owner);
    if (line.length > 0) this.#lines.set(owner, line);
    this.#size--;
    return item;
  }
}
