/**
 * Just enough of an HTTP/1.1 request's head for the front door to police a
 * connection: where the head ends, and how the body's end will be known. Parsing the request itself stays with
 * `Deno.serve`.
 *
 * @module
 */

const HEAD_END = [13, 10, 13, 10]; // \r\n\r\n
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A request head read in full. */
export interface RequestHead {
  /** Bytes up to and including the blank line that ends the head. */
  length: number;
  /** How the end of the body is known: no body, after N bytes, or the last chunk. */
  body: { type: "none" } | { type: "length"; bytes: number } | { type: "chunked" };
  /** The head as passed on: the client's `Connection` header replaced by `Connection: close`. */
  forwarded: Uint8Array;
}

/**
 * Parses the head at the start of `bytes`, or returns undefined while it is
 * incomplete.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseRequestHead } from "./_request_head.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
 * assertEquals(head?.body, { type: "none" });
 * ```
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead | undefined {
  const end = indexOf(bytes, HEAD_END);
  if (end < 0) return undefined;
  const lines = decoder.decode(bytes.subarray(0, end)).split("\r\n");
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const value = (name: string) => headers.find(([key]) => key === name)?.[1];
  const length = Number(value("content-length") ?? 0);
  const body: RequestHead["body"] = /chunked/i.test(value("transfer-encoding") ?? "")
    ? { type: "chunked" }
    : length > 0
    ? { type: "length", bytes: length }
    : { type: "none" };
  // One request per connection: every connection is then policed from its first byte.
  const kept = lines.filter((line, i) => i === 0 || !/^connection\s*:/i.test(line));
  return {
    length: end + HEAD_END.length,
    body,
    forwarded: encoder.encode(`${kept.join("\r\n")}\r\nConnection: close\r\n\r\n`),
  };
}

/**
 * Whether the body is complete once `received` bytes of it have arrived,
 * the last of them `tail`: a chunked body ends with its zero-length chunk.
 */
export function bodyComplete(body: RequestHead["body"], received: number, tail: string): boolean {
  if (body.type === "none") return true;
  if (body.type === "length") return received >= body.bytes;
  return tail.endsWith("0\r\n\r\n");
}

function indexOf(bytes: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
