/**
 * Limits on a model call's response that the SDK does not keep: its
 * timeout covers only the wait for the response's headers, so a stream
 * that stalls after `message_start` would hang its turn forever.
 *
 * @module
 */

/** The response stopped sending for longer than the idle limit. */
export class StreamStalled extends Error {
  override name = "StreamStalled";
  constructor(readonly idleMs: number) {
    super(`The model's response sent nothing for ${idleMs} ms (AGENT_MODEL_IDLE_TIMEOUT_MS).`);
  }
}

/**
 * A `fetch` whose event streams fail with {@linkcode StreamStalled} once
 * `idleMs` pass without a byte. The API sends `ping` events while a reply
 * is slow, so a live stream is never taken for a stalled one.
 *
 * @example
 * ```ts ignore
 * new Anthropic({ apiKey, fetch: idleGuardedFetch(60_000) });
 * ```
 */
export function idleGuardedFetch(
  idleMs: number,
  fetcher: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const response = await fetcher(input, init);
    // A reply in one piece is ended by the call's own time limit; only streams are guarded.
    const streamed = response.headers.get("content-type")?.startsWith("text/event-stream");
    if (!response.body || !streamed) return response;
    return new Response(response.body.pipeThrough(idleGuard(idleMs)), response);
  };
}

/** Passes chunks through, and errors the stream when none comes for `idleMs`. */
function idleGuard(idleMs: number): TransformStream<Uint8Array, Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (controller: TransformStreamDefaultController<Uint8Array>) => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.error(new StreamStalled(idleMs)), idleMs);
  };
  return new TransformStream({
    start: arm,
    transform(chunk, controller) {
      controller.enqueue(chunk);
      arm(controller);
    },
    flush: () => clearTimeout(timer),
    cancel: () => clearTimeout(timer),
  });
}
