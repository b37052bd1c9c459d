/**
 * An actor's mailbox: messages are received one at a time, in the order
 * they were posted, and each poster gets its own reply.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Mailbox } from "./mailbox.ts";
 * const log: number[] = [];
 * const mailbox = new Mailbox(async (n: number) => { log.push(n); return n * 2; });
 * await Promise.all([mailbox.post(1), mailbox.post(2)]);
 * assertEquals(log, [1, 2]);
 * ```
 */
export class Mailbox<Message, Reply> {
  readonly #queue: { message: Message; reply: PromiseWithResolvers<Reply> }[] = [];
  readonly #receive: (message: Message) => Promise<Reply>;
  #busy = false;

  constructor(receive: (message: Message) => Promise<Reply>) {
    this.#receive = receive;
  }

  /**
   * Queues `message`; resolves with its reply once every earlier message is
   * done. An idle mailbox starts receiving at once, before `post` returns.
   */
  post(message: Message): Promise<Reply> {
    const reply = Promise.withResolvers<Reply>();
    this.#queue.push({ message, reply });
    if (!this.#busy) this.#drain();
    return reply.promise;
  }

  /** Messages posted but not yet being received. */
  get waiting(): number {
    return this.#queue.length;
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
      try {
        next.reply.resolve(await this.#receive(next.message));
      } catch (error) {
        next.reply.reject(error);
      }
    }
    this.#busy = false;
  }
}
