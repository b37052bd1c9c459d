import { assertEquals, assertRejects } from "@std/assert";
import { Mailbox } from "./mailbox.ts";

Deno.test("a mailbox receives one message at a time, in order, and replies to each poster", async () => {
  const log: string[] = [];
  const mailbox = new Mailbox(async (n: number) => {
    log.push(`start ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 10 * (3 - n)));
    log.push(`end ${n}`);
    return n * 10;
  });
  const replies = await Promise.all([mailbox.post(1), mailbox.post(2)]);
  assertEquals(replies, [10, 20]);
  assertEquals(log, ["start 1", "end 1", "start 2", "end 2"]);
});

Deno.test("a failed message rejects only its own reply; the next one still runs", async () => {
  const mailbox = new Mailbox((n: number) =>
    n === 1 ? Promise.reject(new Error("one")) : Promise.resolve(n)
  );
  const first = mailbox.post(1);
  const second = mailbox.post(2);
  assertEquals(mailbox.waiting, 1);
  await assertRejects(() => first, Error, "one");
  assertEquals(await second, 2);
  assertEquals(mailbox.waiting, 0);
});
