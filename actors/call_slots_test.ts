import { assertEquals, assertRejects } from "@std/assert";
import { CallSlots, QueueFull } from "./call_slots.ts";

Deno.test("a conversation with many waiting calls cannot starve the others: turns alternate", async () => {
  const slots = new CallSlots({ max: 1, maxQueued: 100 });
  const held = slots.tryAcquire()!;
  const order: string[] = [];
  const wait = (owner: string) =>
    slots.acquire(owner).then((slot) => {
      order.push(owner);
      slot.release();
    });
  const greedy = Array.from({ length: 5 }, () => wait("greedy"));
  const others = [wait("b"), wait("c")];
  held.release();
  await Promise.all([...greedy, ...others]);
  assertEquals(order, ["greedy", "b", "c", "greedy", "greedy", "greedy", "greedy"]);
});

Deno.test("a full waiting line refuses, and an aborted waiter leaves the line", async () => {
  const slots = new CallSlots({ max: 1, maxQueued: 1 });
  const held = slots.tryAcquire()!;
  const stop = new AbortController();
  const waiting = slots.acquire("a", stop.signal);
  await assertRejects(() => slots.acquire("b"), QueueFull);
  stop.abort(new Error("cancelled"));
  await assertRejects(() => waiting, Error, "cancelled");
  assertEquals(slots.queued, 0);
  held.release();
  assertEquals(slots.live, 0);
  assertEquals(slots.tryAcquire() !== undefined, true);
});
