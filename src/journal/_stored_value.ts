/**
 * JSON values of any size in Deno KV, whose values hold at most 64 KiB: a
 * small value is stored whole at its key, a large one in chunks under it.
 *
 * No chunk outlives the value it belongs to. Chunks are written before
 * their head, together with a pending mark (`["pending_blob", blob]`); the
 * commit that sets the head removes the mark and checks that it is still
 * there. A value whose head is never committed (its write was refused, or
 * the process died) is discarded by its writer or, failing that, by
 * {@linkcode sweepPending} once its mark is old.
 *
 * @module
 */

/** Largest chunk, with room under the 64 KiB value limit. */
export const CHUNK_BYTES = 60_000;
/** Chunks per atomic operation: 10 × 60 KB stays under the 800 KiB limit. */
const CHUNKS_PER_COMMIT = 10;
/** Deletions per atomic operation (the KV limit is 1000 mutations). */
const DELETES_PER_COMMIT = 500;

/** What is stored at a value's own key. */
export type StoredValue = Uint8Array | { blob: string; chunks: number; bytes: number };

/** A value whose chunks (if any) are written and whose head waits to be committed. */
export interface PreparedValue {
  key: Deno.KvKey;
  head: StoredValue;
  /** The pending mark's versionstamp, for a chunked value. */
  mark?: string;
}

/** What the pending mark of a chunked value says. */
interface PendingMark {
  key: Deno.KvKey;
  chunks: number;
  at: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const markKey = (blob: string): Deno.KvKey => ["pending_blob", blob];
const chunkKey = (key: Deno.KvKey, blob: string, i: number): Deno.KvKey => [...key, blob, i];

/**
 * Encodes `value`; when it is too large for one KV value, writes its chunks
 * under `[...key, blob]` first, marked pending. They are invisible until the
 * head is committed with {@linkcode storeValue}'s mutations, so a crash in
 * between leaves nothing half-written.
 */
export async function prepareValue(
  kv: Deno.Kv,
  key: Deno.KvKey,
  value: unknown,
  now: number = Date.now(),
): Promise<PreparedValue> {
  const bytes = encoder.encode(JSON.stringify(value));
  if (bytes.length <= CHUNK_BYTES) return { key, head: bytes };
  const blob = crypto.randomUUID();
  const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
  let mark: string | undefined;
  for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
    const atomic = kv.atomic();
    // The mark comes with the first chunks: no chunk is ever stored unmarked.
    if (first === 0) atomic.set(markKey(blob), { key, chunks, at: now } satisfies PendingMark);
    for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
      atomic.set(chunkKey(key, blob, i), bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    }
    const result = await atomic.commit();
    if (!result.ok) throw new Error("A KV write of value chunks did not commit.");
    mark ??= result.versionstamp;
  }
  return { key, head: { blob, chunks, bytes: bytes.length }, mark };
}

/**
 * The checks and mutations of the commit that stores a prepared value: its
 * head, and for a chunked one the end of its pending mark (the check fails
 * if a sweep has discarded the chunks meanwhile).
 */
export function storeValue(
  prepared: PreparedValue,
): { checks: Deno.AtomicCheck[]; mutations: Deno.KvMutation[] } {
  const set: Deno.KvMutation = { type: "set", key: prepared.key, value: prepared.head };
  if (prepared.head instanceof Uint8Array) return { checks: [], mutations: [set] };
  const mark = markKey(prepared.head.blob);
  return {
    checks: [{ key: mark, versionstamp: prepared.mark ?? null }],
    mutations: [set, { type: "delete", key: mark }],
  };
}

/**
 * The mutations that delete a stored value: its head and its chunks.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { deleteValue } from "./_stored_value.ts";
 * const head = { blob: "b", chunks: 2, bytes: 70_000 };
 * assertEquals(deleteValue(["k"], head).map((m) => m.key), [["k"], ["k", "b", 0], ["k", "b", 1]]);
 * ```
 */
export function deleteValue(key: Deno.KvKey, head: StoredValue): Deno.KvMutation[] {
  const mutations: Deno.KvMutation[] = [{ type: "delete", key }];
  if (head instanceof Uint8Array) return mutations;
  for (let i = 0; i < head.chunks; i++) {
    mutations.push({ type: "delete", key: chunkKey(key, head.blob, i) });
  }
  return mutations;
}

/** Deletes the chunks of prepared values whose heads were not committed, and their marks. */
export async function discardValues(kv: Deno.Kv, prepared: PreparedValue[]): Promise<void> {
  for (const { key, head } of prepared) {
    if (head instanceof Uint8Array) continue;
    await deleteInBatches(kv, deleteValue(key, head).slice(1));
    await kv.delete(markKey(head.blob));
  }
}

/**
 * Discards the chunks of every value marked pending before `now - graceMs`:
 * its writer died, or gave up, between writing the chunks and the head.
 * The mark goes first, in a commit that checks it, so a writer that was
 * only slow finds its head refused rather than pointing at lost chunks.
 * Returns how many values it discarded.
 */
export async function sweepPending(kv: Deno.Kv, now: number, graceMs: number): Promise<number> {
  let swept = 0;
  for await (const entry of kv.list<PendingMark>({ prefix: ["pending_blob"] })) {
    if (entry.value.at > now - graceMs) continue;
    const blob = entry.key[1] as string;
    const dropped = await kv.atomic().check(entry).delete(entry.key).commit();
    if (!dropped.ok) continue; // its head was committed just now
    const { key, chunks } = entry.value;
    await deleteInBatches(kv, deleteValue(key, { blob, chunks, bytes: 0 }).slice(1));
    swept++;
  }
  return swept;
}

async function deleteInBatches(kv: Deno.Kv, deletes: Deno.KvMutation[]): Promise<void> {
  for (let first = 0; first < deletes.length; first += DELETES_PER_COMMIT) {
    await kv.atomic().mutate(...deletes.slice(first, first + DELETES_PER_COMMIT)).commit();
  }
}

/** Reads what {@linkcode prepareValue} stored at `key`, or undefined. */
export async function readValue<T>(kv: Deno.Kv, key: Deno.KvKey): Promise<T | undefined> {
  const head = await kv.get<StoredValue>(key);
  if (head.value === null) return undefined;
  return decodeValue<T>(head.value, await chunksOf(kv, key, head.value));
}

/** The chunks of a head, read from the store; none for a whole value. */
async function chunksOf(
  kv: Deno.Kv,
  key: Deno.KvKey,
  head: StoredValue,
): Promise<Uint8Array[]> {
  if (head instanceof Uint8Array) return [];
  const chunks: Uint8Array[] = [];
  for await (const entry of kv.list<Uint8Array>({ prefix: [...key, head.blob] })) {
    chunks.push(entry.value);
  }
  return chunks;
}

/** Decodes a head and its chunks back into the value. */
export function decodeValue<T>(head: StoredValue, chunks: Uint8Array[]): T {
  if (head instanceof Uint8Array) return JSON.parse(decoder.decode(head));
  if (chunks.length !== head.chunks) {
    throw new Error(`A stored value has ${chunks.length} of its ${head.chunks} chunks.`);
  }
  const bytes = new Uint8Array(head.bytes);
  chunks.forEach((chunk, i) => bytes.set(chunk, i * CHUNK_BYTES));
  return JSON.parse(decoder.decode(bytes));
}

/** A value read back by {@linkcode listValues}, with its key, versionstamp and stored head. */
export interface ListedValue<T> {
  key: Deno.KvKey;
  versionstamp: string;
  value: T;
  /** What is stored at the key: deleting the value deletes its chunks too ({@linkcode deleteValue}). */
  head: StoredValue;
}

/**
 * Lists the values stored under `prefix` whose keys are `depth` parts long,
 * in key order, joined with their chunks (which sort right behind them).
 */
export function listValues<T>(
  kv: Deno.Kv,
  selector: Deno.KvListSelector,
  depth: number,
): Promise<ListedValue<T>[]> {
  return Array.fromAsync(eachValue<T>(kv, selector, depth));
}

/**
 * The values of {@linkcode listValues} one at a time, as they are read: a
 * reader holds one value (and its chunks) at a time, however many there are.
 */
export async function* eachValue<T>(
  kv: Deno.Kv,
  selector: Deno.KvListSelector,
  depth: number,
): AsyncGenerator<ListedValue<T>> {
  let head: Deno.KvEntry<StoredValue> | undefined;
  let chunks: Uint8Array[] = [];
  const decoded = (head: Deno.KvEntry<StoredValue>): ListedValue<T> => ({
    key: head.key,
    versionstamp: head.versionstamp,
    value: decodeValue<T>(head.value, chunks),
    head: head.value,
  });
  for await (const entry of kv.list<StoredValue | Uint8Array>(selector)) {
    if (entry.key.length === depth) {
      if (head) yield decoded(head);
      head = entry as Deno.KvEntry<StoredValue>;
      chunks = [];
    } else if (
      head && !(head.value instanceof Uint8Array) && entry.key[depth] === head.value.blob
    ) {
      chunks.push(entry.value as Uint8Array);
    }
  }
  if (head) yield decoded(head);
}

/** A chunk that no head points to and no pending mark claims. */
export interface OrphanChunk {
  key: Deno.KvKey;
  /** The head's key, and its versionstamp when it was read (null: there was none). */
  head: { key: Deno.KvKey; versionstamp: string | null };
}

/**
 * Finds the chunks under `prefix` (values at `depth`) that belong to no
 * value: left by a version of the runtime that did not clean up after
 * itself. Reads every value under the prefix; meant for a one-time scan.
 */
export async function findOrphans(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  depth: number,
): Promise<OrphanChunk[]> {
  const orphans: OrphanChunk[] = [];
  let head: Deno.KvEntry<StoredValue> | undefined;
  for await (const entry of kv.list<StoredValue>({ prefix })) {
    if (entry.key.length === depth) {
      head = entry;
      continue;
    }
    if (entry.key.length !== depth + 2) continue;
    const headKey = entry.key.slice(0, depth);
    const owned = head && sameKey(head.key, headKey) && !(head.value instanceof Uint8Array) &&
      head.value.blob === entry.key[depth];
    if (owned) continue;
    if ((await kv.get(markKey(entry.key[depth] as string))).versionstamp) continue;
    const versionstamp = head && sameKey(head.key, headKey) ? head.versionstamp : null;
    orphans.push({ key: entry.key, head: { key: headKey, versionstamp } });
  }
  return orphans;
}

/**
 * Deletes orphan chunks found by {@linkcode findOrphans}, each only if its
 * head is still the one seen and no pending mark has claimed its blob since.
 */
export async function deleteOrphans(kv: Deno.Kv, orphans: OrphanChunk[]): Promise<number> {
  let deleted = 0;
  for (const orphan of orphans) {
    const result = await kv.atomic()
      .check(orphan.head)
      .check({ key: markKey(orphan.key.at(-2) as string), versionstamp: null })
      .delete(orphan.key)
      .commit();
    if (result.ok) deleted++;
  }
  return deleted;
}

function sameKey(a: Deno.KvKey, b: Deno.KvKey): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}
