/**
 * The journal's address (`AGENT_DATA`): a Deno KV file, `:memory:`, or a
 * PostgreSQL URL, and how it is shown (never with its password).
 *
 * @module
 */

/**
 * Whether `address` names a PostgreSQL database.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { isPostgresAddress } from "./journal_address.ts";
 * assert(isPostgresAddress("postgres://agent:pw@db:5432/agent"));
 * assert(!isPostgresAddress(".agent/journal.kv"));
 * ```
 */
export function isPostgresAddress(address: string): boolean {
  return /^postgres(ql)?:\/\//i.test(address);
}

/**
 * `address` as it may be printed and logged: a database URL without its
 * password.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { displayAddress } from "./journal_address.ts";
 * assertEquals(displayAddress("postgres://agent:pw@db:5432/agent"), "postgres://agent@db:5432/agent");
 * assertEquals(displayAddress(".agent/journal.kv"), ".agent/journal.kv");
 * ```
 */
export function displayAddress(address: string): string {
  if (!isPostgresAddress(address)) return address;
  try {
    const url = new URL(address);
    url.password = "";
    return url.href;
  } catch {
    return address.replace(/:\/\/([^:@/]*):[^@/]*@/, "://$1@");
  }
}
