/**
 * Which names the server answers for, and which web pages may call it.
 *
 * A server without a token listens on loopback only, but a web page can
 * still reach it by rebinding its own name to 127.0.0.1 (DNS rebinding):
 * the browser then sends the page's name as `Host` and its origin as
 * `Origin`. So every request must name this server: a loopback name, or
 * one the operator lists in `AGENT_ALLOWED_HOSTS`; and a browser's
 * `Origin`, when sent, must be this server's own.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { apiError } from "./errors.ts";

/**
 * The host names (no port, lowercase) a server answers for besides the
 * loopback names, or "any": a server with a token and no list (e.g. on
 * Deno Deploy), where the token is what keeps callers out.
 */
export type AllowedHosts = string[] | "any";

/**
 * Whether `hostname` (without port; IPv6 with or without brackets) is a
 * loopback name.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { isLoopbackName } from "./host_guard.ts";
 * assert(isLoopbackName("localhost") && isLoopbackName("127.0.0.9") && isLoopbackName("[::1]"));
 * assert(!isLoopbackName("attacker.example") && !isLoopbackName("127.0.0.1.example"));
 * ```
 */
export function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * Parses `AGENT_ALLOWED_HOSTS`: names separated by commas or spaces.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseAllowedHosts } from "./host_guard.ts";
 * assertEquals(parseAllowedHosts("Agent.example.com, 10.0.0.5"), ["agent.example.com", "10.0.0.5"]);
 * assertEquals(parseAllowedHosts(undefined), undefined);
 * ```
 */
export function parseAllowedHosts(value: string | undefined): string[] | undefined {
  const names = value?.split(/[\s,]+/).filter(Boolean).map((name) => name.toLowerCase());
  return names?.length ? names : undefined;
}

/**
 * Refuses with 403 a request whose `Host` is not a name this server answers
 * for, or whose `Origin` is not this server's own.
 */
export function guardHost(allowedHosts: AllowedHosts): MiddlewareHandler {
  const allowed = (hostname: string) =>
    isLoopbackName(hostname) || allowedHosts === "any" ||
    allowedHosts.includes(hostname.toLowerCase());
  const names = ["localhost", "127.0.0.1", "[::1]", ...(allowedHosts === "any" ? [] : allowedHosts)]
    .join(", ");
  return async (c, next) => {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (!allowed(hostnameOf(host))) {
      return apiError(
        c,
        403,
        "forbidden_host",
        `This server answers only for ${names}, not "${host}"; an operator adds names with AGENT_ALLOWED_HOSTS.`,
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && !sameServer(origin, host, allowed)) {
      return apiError(
        c,
        403,
        "forbidden_origin",
        `Pages from ${origin} may not call this server; only its own page may.`,
      );
    }
    await next();
  };
}

/** The host name of a `Host` value, without its port. */
function hostnameOf(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

/**
 * Whether a browser's `Origin` is this server: the name and port it was
 * asked under, or (behind a proxy that rewrites `Host`) an allowed name.
 */
function sameServer(origin: string, host: string, allowed: (name: string) => boolean): boolean {
  let url: URL;
  try {
    url = new URL(origin); // "null" (a sandboxed frame, a file) is not a server's origin
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  return url.host === host.toLowerCase() ||
    (!isLoopbackName(url.hostname) && allowed(url.hostname));
}
