/**
 * Group commit for Deno KV: writes that arrive while a commit is under way
 * wait for it and then go as one atomic operation. A local KV file commits
 * one write at a time (about 1 ms each, most of it the file's sync), so
 * fifty conversations writing at once would otherwise queue behind each
 * other; grouped, they share one commit. A write that arrives while none
 * is under way is committed at once: grouping never adds latency.
 *
 * @module
 */

/** One atomic write: it commits whole or not at all, as if alone. */
export interface KvWrite {
  checks: Deno.AtomicCheck[];
  mutations: Deno.KvMutation[];
}

/** What a write's commit says: `ok` false when one of its own checks failed. */
export type WriteResult = Deno.KvCommitResult | Deno.KvCommitError;

/** Deno KV's limits on one atomic operation, with room to spare for the sizes. */
const MAX_CHECKS = 100;
const MAX_MUTATIONS = 1000;
const MAX_BYTES = 600_000;

interface Queued {
  write: KvWrite;
  keys: string[];
  bytes: number;
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Commits writes to `kv`, grouping the ones that wait.
 *
 * @example
 * ```ts
 * import { CommitGroup } from "./_commit_group.ts";
 * import { assert } from "@std/assert";
 * using kv = await Deno.openKv(":memory:");
 * const group = new CommitGroup(kv);
 * const [a, b] = await Promise.all(["a", "b"].map((name) =>
 *   group.commit({
 *     checks: [{ key: [name], versionstamp: null }],
 *     mutations: [{ type: "set", key: [name], value: 1 }],
 *   })
 * ));
 * assert(a.ok && b.ok);
 * ```
 */
export class CommitGroup {
  readonly #kv: Deno.Kv;
  #waiting: Queued[] = [];
  #committing = false;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Commits `write` on its own or with others; resolves with its own result. */
  commit(write: KvWrite): Promise<WriteResult> {
    const { promise, resolve, reject } = Promise.withResolvers<WriteResult>();
    const mutated = write.mutations.map((mutation) => keyId(mutation.key));
    const keys = [...write.checks.map((check) => keyId(check.key)), ...mutated];
    const bytes = mutated.reduce((sum, key) => sum + key.length, 0) + valueBytes(write);
    this.#waiting.push({ write, keys, bytes, resolve, reject });
    if (!this.#committing) this.#next();
    return promise;
  }

  async #next(): Promise<void> {
    this.#committing = true;
    while (this.#waiting.length > 0) {
      const group = this.#take();
      if (group.length === 1) await settleAlone(this.#kv, group[0]);
      else await this.#commitTogether(group);
    }
    this.#committing = false;
  }

  /**
   * The next group: in arrival order, within the limits, and never two
   * writes on one key (a group's checks all run before its mutations, so a
   * write could not see the one before it).
   */
  #take(): Queued[] {
    const group: Queued[] = [];
    const keys = new Set<string>();
    let checks = 0, mutations = 0, bytes = 0;
    const rest: Queued[] = [];
    for (const queued of this.#waiting) {
      const { write } = queued;
      const fits = group.length === 0 || (
        checks + write.checks.length <= MAX_CHECKS &&
        mutations + write.mutations.length <= MAX_MUTATIONS &&
        bytes + queued.bytes <= MAX_BYTES &&
        !queued.keys.some((key) => keys.has(key))
      );
      // A write after one left behind waits too: writes keep their order.
      if (!fits || rest.length > 0) {
        rest.push(queued);
        continue;
      }
      group.push(queued);
      queued.keys.forEach((key) => keys.add(key));
      checks += write.checks.length;
      mutations += write.mutations.length;
      bytes += queued.bytes;
    }
    this.#waiting = rest;
    return group;
  }

  /** One commit for all; if it fails, each alone, so each gets its own answer. */
  async #commitTogether(group: Queued[]): Promise<void> {
    const atomic = this.#kv.atomic();
    for (const { write } of group) atomic.check(...write.checks).mutate(...write.mutations);
    try {
      const result = await atomic.commit();
      if (result.ok) return group.forEach((queued) => queued.resolve(result));
    } catch { /* each alone says why */ }
    await Promise.all(group.map((queued) => settleAlone(this.#kv, queued)));
  }
}

async function settleAlone(kv: Deno.Kv, { write, resolve, reject }: Queued): Promise<void> {
  try {
    resolve(await kv.atomic().check(...write.checks).mutate(...write.mutations).commit());
  } catch (error) {
    reject(error);
  }
}

function keyId(key: Deno.KvKey): string {
  return JSON.stringify(
    key,
    (_, part) =>
      typeof part === "bigint"
        ? `${part}n`
        : part instanceof Uint8Array
        ? `bytes:${[...part]}`
        : part,
  );
}

/** Roughly what the write's values add to a commit's size. */
function valueBytes(write: KvWrite): number {
  let bytes = 0;
  for (const mutation of write.mutations) {
    if (mutation.type !== "set") continue;
    const value = mutation.value;
    bytes += value instanceof Uint8Array ? value.length : JSON.stringify(value)?.length ?? 8;
  }
  return bytes;
}
