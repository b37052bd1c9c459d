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
  const waiting = slots.acquire("a", { signal: stop.signal });
  await assertRejects(() => slots.acquire("b"), QueueFull);
  stop.abort(new Error("cancelled"));
  await assertRejects(() => waiting, Error, "cancelled");
  assertEquals(slots.queued, 0);
  held.release();
  assertEquals(slots.live, 0);
  assertEquals(slots.tryAcquire() !== undefined, true);
});

Deno.test("interactive calls go before low-priority ones, yet every fourth slot goes to a low one", async () => {
  const slots = new CallSlots({ max: 1, maxQueued: 100 });
  const held = slots.tryAcquire()!;
  const order: string[] = [];
  const wait = (label: string, priority: "normal" | "low") =>
    slots.acquire(label, { priority }).then((slot) => {
      order.push(label);
      slot.release();
    });
  const low = ["low1", "low2"].map((label) => wait(label, "low"));
  const normal = Array.from({ length: 7 }, (_, i) => wait(`n${i + 1}`, "normal"));
  held.release();
  await Promise.all([...low, ...normal]);
  assertEquals(order, ["n1", "n2", "n3", "low1", "n4", "n5", "n6", "low2", "n7"]);
});

Deno.test("low-priority calls alone are served at once, in turn per conversation", async () => {
  const slots = new CallSlots({ max: 1, maxQueued: 100 });
  const held = slots.tryAcquire()!;
  const order: string[] = [];
  const wait = (owner: string) =>
    slots.acquire(owner, { priority: "low" }).then((slot) => {
      order.push(owner);
      slot.release();
    });
  const waits = [wait("a"), wait("a"), wait("b")];
  held.release();
  await Promise.all(waits);
  assertEquals(order, ["a", "b", "a"]);
});
