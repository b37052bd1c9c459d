/**
 * What the servers sharing a PostgreSQL journal tell one another, through
 * `LISTEN`/`NOTIFY`: that a conversation was written to, what the server
 * driving it is asked, and the events of its turn that no record stands
 * for. PostgreSQL delivers notifications in the order their statements
 * commit, so whatever is sent one after another here arrives so there.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import type { ConversationEvent } from "../events.ts";
import type { JournalChange } from "./journal.ts";

/** The channel of writes and requests: `<writer> <kind> <conversation id>`. */
export const CHANNEL = "agent_journal";
/** The channel of relayed events: `<writer> {"conversationId", "events"}`. */
const EVENTS_CHANNEL = "agent_events";
/** What one notification carries at most (PostgreSQL's limit is 8000 bytes). */
const NOTIFY_BYTES = 7_000;
const KINDS = new Set<string>(
  ["log", "inbox", "cancel", "watching"] satisfies JournalChange["kind"][],
);

/** One journal's notifications: it names itself in what it sends, and skips what it sent. */
export class PgNotifications {
  /** Who sends: this journal, in every payload. */
  readonly writer = crypto.randomUUID();
  readonly #sql: Sql;
  readonly #outbox: { conversationId: string; event: ConversationEvent }[] = [];
  #relaying: Promise<void> | undefined;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** The payload telling of `kind` for the conversation `id`. */
  payload(kind: Exclude<JournalChange["kind"], "events">, id: string): string {
    return `${this.writer} ${kind} ${id}`;
  }

  /** Tells of `kind` for the conversation `id`, as `sql`'s statement (or transaction) commits. */
  async tell(
    sql: Sql | TransactionSql,
    kind: Exclude<JournalChange["kind"], "events">,
    id: string,
  ): Promise<void> {
    await sql`select pg_notify(${CHANNEL}, ${this.payload(kind, id)})`;
  }

  /**
   * Calls `listener` with what the other journals tell, until disposed,
   * and with `missed` each time the listening connection is back after a
   * break (PostgreSQL keeps no notification for a listener that is away).
   */
  async listen(listener: (change: JournalChange) => void): Promise<AsyncDisposable> {
    let listening = false;
    const writes = await this.#sql.listen(CHANNEL, (payload) => {
      const [kind, conversationId] = this.#fromOthers(payload)?.split(" ") ?? [];
      if (KINDS.has(kind)) listener({ conversationId, kind: kind as "log" });
    }, () => {
      if (listening) listener({ kind: "missed" });
      listening = true;
    });
    const relayed = await this.#sql.listen(EVENTS_CHANNEL, (payload) => {
      const json = this.#fromOthers(payload);
      if (json) listener({ kind: "events", ...JSON.parse(json) });
    });
    return {
      [Symbol.asyncDispose]: async () => {
        await writes.unlisten().catch(() => {});
        await relayed.unlisten().catch(() => {});
      },
    };
  }

  /** Relays `events`, after those relayed before them (lost if the database cannot be reached). */
  publish(conversationId: string, events: ConversationEvent[]): void {
    for (const event of events) {
      const fitted = fitForNotify(event);
      if (fitted) this.#outbox.push({ conversationId, event: fitted });
    }
    this.#relaying ??= this.#relay().finally(() => this.#relaying = undefined);
  }

  /** Resolves once the events relayed so far are sent: what is written next is told after them. */
  async sent(): Promise<void> {
    await this.#relaying;
  }

  /** Sends the outbox a notification at a time: the events of one conversation that fit in one. */
  async #relay(): Promise<void> {
    while (this.#outbox.length > 0) {
      const { conversationId } = this.#outbox[0];
      const events: ConversationEvent[] = [];
      let bytes = 0;
      while (this.#outbox[0]?.conversationId === conversationId) {
        const size = bytesOf(this.#outbox[0].event);
        if (events.length > 0 && bytes + size > NOTIFY_BYTES) break;
        events.push(this.#outbox.shift()!.event);
        bytes += size;
      }
      const payload = `${this.writer} ${JSON.stringify({ conversationId, events })}`;
      await this.#sql`select pg_notify(${EVENTS_CHANNEL}, ${payload})`.catch(() => {});
    }
  }

  /** The payload after its writer's name, unless this journal wrote it. */
  #fromOthers(payload: string): string | undefined {
    const space = payload.indexOf(" ");
    if (space < 0 || payload.slice(0, space) === this.writer) return undefined;
    return payload.slice(space + 1);
  }
}

/** `event` as it fits in a notification: a long text cut, with a mark; undefined if it cannot fit. */
function fitForNotify(event: ConversationEvent): ConversationEvent | undefined {
  const size = bytesOf(event);
  if (size <= NOTIFY_BYTES) return event;
  if (!("text" in event) || typeof event.text !== "string") return undefined;
  // A character is at most 3 bytes of UTF-8 (and a pair of two, 4).
  const keep = Math.floor((NOTIFY_BYTES - (size - bytesOf(event.text)) - 100) / 3);
  return keep > 0 ? { ...event, text: `${event.text.slice(0, keep)}…` } : undefined;
}

function bytesOf(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}
