/**
 * Opens the journal an address names: PostgreSQL for a `postgres://` URL,
 * Deno KV for anything else (a file, `:memory:`, none for the platform's KV).
 *
 * @module
 */
import type { Journal } from "./journal.ts";
import { isPostgresAddress } from "./journal_address.ts";
import { KvJournal } from "./kv_journal.ts";
import { PgJournal } from "./pg_journal.ts";

/**
 * The journal at `address`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openJournal } from "./open_journal.ts";
 * await using journal = await openJournal(":memory:");
 * assertEquals(journal.address, undefined); // nothing else can open it
 * ```
 */
export function openJournal(address?: string): Promise<Journal> {
  return address && isPostgresAddress(address) ? PgJournal.open(address) : KvJournal.open(address);
}
