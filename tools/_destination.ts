/**
 * Where `fetch_url` may go: public addresses only, unless the operator
 * allows more. A model must not reach the agent's own API, the machine's
 * other services or the private network by asking for a URL.
 *
 * @module
 */

/** Names that resolve to the machine itself whatever DNS says. */
const LOOPBACK_NAMES = /^(localhost|.*\.localhost)\.?$/i;

/**
 * Whether `address` (IPv4 or IPv6, without brackets) is one a public URL
 * must never lead to: loopback, private, link-local, shared, unspecified,
 * multicast or broadcast, IPv4 inside IPv6 included.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isInternalAddress } from "./_destination.ts";
 * assertEquals([isInternalAddress("10.1.2.3"), isInternalAddress("93.184.216.34")], [true, false]);
 * ```
 */
export function isInternalAddress(address: string): boolean {
  const v4 = address.match(/^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || a >= 224 ||
      (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  const v6 = address.toLowerCase();
  return v6 === "::" || v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) ||
    v6.startsWith("ff") || v6.startsWith("::ffff:");
}

/** The operator's allow-list: host names or addresses, from `AGENT_FETCH_ALLOW`. */
export function allowList(): string[] {
  const raw = Deno.env.get("AGENT_FETCH_ALLOW") ?? "";
  return raw.split(",").map((entry) => entry.trim().toLowerCase()).filter(Boolean);
}

/**
 * Resolves `url`'s host and throws, saying why, if any of its addresses is
 * internal and neither the host nor that address is on `allow`.
 */
export async function checkDestination(url: URL, allow: string[]): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (allow.includes(host)) return;
  const addresses = await addressesOf(host);
  const internal = addresses.filter((address) => isInternalAddress(address));
  const refused = internal.filter((address) => !allow.includes(address.toLowerCase()));
  if (refused.length === 0) return;
  throw new Error(
    `refused to fetch ${url.origin}: ${host} is an internal address (${
      refused.join(", ")
    }); only public addresses may be fetched unless the operator lists the host in AGENT_FETCH_ALLOW`,
  );
}

async function addressesOf(host: string): Promise<string[]> {
  if (LOOPBACK_NAMES.test(host)) return ["127.0.0.1"];
  if (/^[\d.]+$/.test(host) || host.includes(":")) return [host];
  const lookups = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  const addresses = lookups.flatMap((lookup) => lookup.status === "fulfilled" ? lookup.value : []);
  if (addresses.length === 0) throw new Error(`cannot resolve ${host}`);
  return addresses;
}
