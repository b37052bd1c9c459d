/**
 * An actor's mailbox: messages are received one at a time, in the order
 * they were posted, and each poster gets its own reply.
 *
 * @example
 * ```ts
 * import { Mailbox } from "./mailbox.ts";
 * const log: number[] = [];
 * const mailbox = new Mailbox(async (n: number) => { log.push(n); return n * 2; });
 * await Promise.all([mailbox.post(1), mailbox.post(2)]);
 * console.log(log); // [1, 2]
 * ```
 */
export class Mailbox<Message, Reply> {
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  readonly #receive: (message: Message) => Promise<Reply>;

  constructor(receive: (message: Message) => Promise<Reply>) {
    this.#receive = receive;
  }

  /** Queues `message`; resolves with its reply once every earlier message is done. */
  post(message: Message): Promise<Reply> {
    this.#waiting++;
    const reply = this.#tail.then(() => {
      this.#waiting--;
      return this.#receive(message);
    });
    this.#tail = reply.catch(() => {});
    return reply;
  }

  /** Messages posted but not yet being received. */
  get waiting(): number {
    return this.#waiting;
  }
}
