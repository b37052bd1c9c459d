/**
 * An abort controller that follows another signal for as long as its work
 * lasts.
 *
 * @module
 */

/**
 * An `AbortController` that aborts, with the same reason, when `parent`
 * does, until it is disposed. `AbortSignal.any` makes the same signal, but
 * its parent holds it by a WeakRef, which V8 keeps alive through every minor
 * collection while the parent lives: the signal, and whatever its listeners
 * hold, then outlives the work it was for until the next full collection.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FollowingController } from "./_following_controller.ts";
 * const turn = new AbortController();
 * {
 *   using call = new FollowingController(turn.signal);
 *   turn.abort("stopped");
 *   assertEquals(call.signal.reason, "stopped");
 * }
 * ```
 */
export class FollowingController extends AbortController implements Disposable {
  readonly #parent?: AbortSignal;
  readonly #follow = () => this.abort(this.#parent?.reason);

  constructor(parent?: AbortSignal) {
    super();
    this.#parent = parent;
    if (parent?.aborted) this.#follow();
    else parent?.addEventListener("abort", this.#follow, { once: true });
  }

  /** Stops following the parent. */
  [Symbol.dispose](): void {
    this.#parent?.removeEventListener("abort", this.#follow);
  }
}
