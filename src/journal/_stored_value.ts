/**
 * JSON values of any size in Deno KV, whose values hold at most 64 KiB: a
 * small value is stored whole at its key, a large one in chunks under it.
 *
 * @module
 */

/** Largest chunk, with room under the 64 KiB value limit. */
export const CHUNK_BYTES = 60_000;
/** Chunks per atomic operation: 10 × 60 KB stays under the 800 KiB limit. */
const CHUNKS_PER_COMMIT = 10;

/** What is stored at a value's own key. */
export type StoredValue = Uint8Array | { blob: string; chunks: number; bytes: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes `value`; when it is too large for one KV value, writes its chunks
 * under `[...key, blob]` first (they are invisible until the returned head
 * is committed at `key`, so a crash in between leaves nothing half-written).
 */
export async function prepareValue(
  kv: Deno.Kv,
  key: Deno.KvKey,
  value: unknown,
): Promise<StoredValue> {
  const bytes = encoder.encode(JSON.stringify(value));
  if (bytes.length <= CHUNK_BYTES) return bytes;
  const blob = crypto.randomUUID();
  const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
  for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
    const atomic = kv.atomic();
    for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
      atomic.set([...key, blob, i], bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    }
    await commitOrThrow(atomic);
  }
  return { blob, chunks, bytes: bytes.length };
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

async function commitOrThrow(atomic: Deno.AtomicOperation): Promise<void> {
  const result = await atomic.commit();
  if (!result.ok) throw new Error("A KV write of value chunks did not commit.");
}

/** A value read back by {@linkcode listValues}, with its key and versionstamp. */
export interface ListedValue<T> {
  key: Deno.KvKey;
  versionstamp: string;
  value: T;
}

/**
 * Lists the values stored under `prefix` whose keys are `depth` parts long,
 * in key order, joined with their chunks (which sort right behind them).
 */
export async function listValues<T>(
  kv: Deno.Kv,
  selector: Deno.KvListSelector,
  depth: number,
): Promise<ListedValue<T>[]> {
  const values: ListedValue<T>[] = [];
  let head: Deno.KvEntry<StoredValue> | undefined;
  let chunks: Uint8Array[] = [];
  const flush = () => {
    if (head) {
      values.push({
        key: head.key,
        versionstamp: head.versionstamp,
        value: decodeValue<T>(head.value, chunks),
      });
    }
    head = undefined;
    chunks = [];
  };
  for await (const entry of kv.list<StoredValue | Uint8Array>(selector)) {
    if (entry.key.length === depth) {
      flush();
      head = entry as Deno.KvEntry<StoredValue>;
    } else if (
      head && !(head.value instanceof Uint8Array) && entry.key[depth] === head.value.blob
    ) {
      chunks.push(entry.value as Uint8Array);
    }
  }
  flush();
  return values;
}
