/**
 * The messages between the runtime and a tool host process, sent as
 * length-prefixed JSON frames over a private Unix socket.
 *
 * A host runs calls: `run` → `started`, `progress`*, `handed_off`?, `outcome`, and
 * possibly `late` (a result that came in the grace after a timeout).
 * `cancel` stops a call. `prepare` warms a worker for a call about to come. `describe` loads a tool module and answers
 * `described`. A host whose socket closes exits.
 *
 * @module
 */
import type { ReuseTerms, ToolCallOutcome, ToolCallRequest } from "../tool_executor.ts";
import type { WorkerSpec } from "../tool_worker/worker_pool.ts";
import { concat } from "@std/bytes/concat";

/** A call as it crosses to the host: the request without its callbacks. */
export type HostedCall = Omit<
  ToolCallRequest,
  "signal" | "onStarted" | "onProgress" | "onHandOff" | "onLateResult"
>;

/** Sent to a host. `id` numbers the host's calls (tool_use ids need not be unique). */
export type ToHost =
  | { type: "run"; id: number; call: HostedCall }
  | { type: "cancel"; id: number }
  | { type: "describe"; id: number; moduleUrl: string }
  /** A call of this spec is coming: have a worker ready. */
  | { type: "prepare"; spec: WorkerSpec; reuse?: ReuseTerms };

/** Sent by a host. */
export type FromHost =
  | { type: "ready"; pid: number }
  | { type: "started"; id: number }
  | { type: "progress"; id: number; text: string }
  | { type: "handed_off"; id: number }
  | { type: "outcome"; id: number; outcome: ToolCallOutcome }
  | { type: "late"; id: number; outcome: ToolCallOutcome }
  | { type: "described"; id: number; tool?: unknown; error?: string };

/** Larger frames end the connection: a host never needs them (results are cut to 8 MiB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * One message as a frame: a 4-byte big-endian length, then UTF-8 JSON.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(encodeFrame({ type: "cancel", id: 1 }).subarray(0, 4), new Uint8Array([0, 0, 0, 24]));
 * ```
 */
export function encodeFrame(message: ToHost | FromHost): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(message));
  const frame = new Uint8Array(4 + json.length);
  new DataView(frame.buffer).setUint32(0, json.length);
  frame.set(json, 4);
  return frame;
}

/**
 * The messages of a stream of frames (for a socket, see
 * {@linkcode chunksOf}), in order, those completed by one chunk together:
 * the results a host sent at once are then handled in one go, and their
 * journal writes join in one commit. Throws on a frame over
 * {@linkcode MAX_FRAME_BYTES} or one that is not JSON.
 *
 * @example
 * ```ts
 * import { encodeFrame, readFrames } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 * const both = [encodeFrame({ type: "cancel", id: 7 }), encodeFrame({ type: "cancel", id: 8 })];
 * const stream = ReadableStream.from([new Uint8Array([...both[0], ...both[1]])]);
 * assertEquals(await Array.fromAsync(readFrames(stream)), [[
 *   { type: "cancel", id: 7 },
 *   { type: "cancel", id: 8 },
 * ]]);
 * ```
 */
export async function* readFrames(
  stream: AsyncIterable<Uint8Array>,
  maxBytes = MAX_FRAME_BYTES,
): AsyncGenerator<unknown[]> {
  const decoder = new TextDecoder();
  const bytes = new ByteQueue();
  let length: number | undefined;
  for await (const chunk of stream) {
    bytes.push(chunk);
    const messages: unknown[] = [];
    while (true) {
      if (length === undefined) {
        if (bytes.size < 4) break;
        length = new DataView(bytes.take(4).buffer).getUint32(0);
        if (length > maxBytes) throw new Error(`a frame of ${length} bytes is over the limit`);
      }
      if (bytes.size < length) break;
      messages.push(JSON.parse(decoder.decode(bytes.take(length))));
      length = undefined;
    }
    if (messages.length > 0) yield messages;
  }
}

/**
 * What a socket reads, chunk by chunk, until it closes: read straight from
 * the connection, without the stream machinery a `readable` adds to every
 * frame.
 *
 * @example
 * ```ts ignore
 * for await (const messages of readFrames(chunksOf(connection))) console.log(messages);
 * ```
 */
export async function* chunksOf(connection: Deno.Conn): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await connection.read(buffer);
    if (n === null) return;
    yield buffer.slice(0, n);
  }
}

/**
 * Sends frames over a socket in order. Frames sent while a write is under
 * way (the three results of a batch, say) leave together in the next one:
 * one system call for many frames.
 *
 * @example
 * ```ts ignore
 * const frames = new FrameWriter(connection);
 * frames.send({ type: "cancel", id: 1 });
 * ```
 */
export class FrameWriter {
  readonly #connection: Deno.Conn;
  #waiting: Uint8Array[] = [];
  #writing = false;

  constructor(connection: Deno.Conn) {
    this.#connection = connection;
  }

  /** Queues `message`; a connection that fails drops it (its reader learns of that on its own). */
  send(message: ToHost | FromHost): void {
    this.#waiting.push(encodeFrame(message));
    if (!this.#writing) this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      // After the sender's synchronous code: what it sends together leaves in one write.
      await Promise.resolve();
      while (this.#waiting.length > 0) {
        const bytes = concatenate(this.#waiting);
        this.#waiting = [];
        for (let at = 0; at < bytes.length;) at += await this.#connection.write(bytes.subarray(at));
      }
    } catch {
      this.#waiting = [];
    } finally {
      this.#writing = false;
    }
  }
}

function concatenate(chunks: Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0] : concat(chunks);
}

/** Chunks as they came, copied once into the frame that needs them. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  size = 0;

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.size += chunk.length;
  }

  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let at = 0; at < n;) {
      const chunk = this.#chunks[0];
      const k = Math.min(chunk.length, n - at);
      out.set(chunk.subarray(0, k), at);
      at += k;
      if (k === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(k);
    }
    this.size -= n;
    return out;
  }
}
