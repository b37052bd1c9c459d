import { assertEquals, assertRejects } from "@std/assert";
import { ToolGates } from "./tool_gates.ts";

Deno.test("beyond maxConcurrent, calls wait in arrival order and start as others end", async () => {
  const gates = new ToolGates();
  const rate = { maxConcurrent: 2 };
  const signal = new AbortController().signal;
  const running = [gates.tryEnter("t", rate)!, gates.tryEnter("t", rate)!];
  const started: number[] = [];
  const waiting = [3, 4, 5].map((n) =>
    gates.enter("t", rate, signal).then((release) => (started.push(n), release))
  );
  assertEquals(gates.queued("t"), 3);
  running[0]();
  const third = await waiting[0];
  assertEquals(started, [3]);
  running[1]();
  third();
  await Promise.all(waiting.slice(1));
  assertEquals(started, [3, 4, 5]);
  assertEquals(gates.tryEnter("other", rate) !== undefined, true, "tools have gates of their own");
});

Deno.test("perSecond: no more than N starts in any second of the injected clock", () => {
  let now = 0;
  const gates = new ToolGates(() => now);
  const rate = { perSecond: 2 };
  assertEquals([!!gates.tryEnter("t", rate), !!gates.tryEnter("t", rate)], [true, true]);
  assertEquals(gates.tryEnter("t", rate), undefined);
  now = 1000;
  assertEquals(!!gates.tryEnter("t", rate), true);
});

Deno.test("a waiting call whose turn is cancelled leaves the line", async () => {
  const gates = new ToolGates();
  const rate = { maxConcurrent: 1 };
  const release = gates.tryEnter("t", rate)!;
  const cancel = new AbortController();
  const waiting = gates.enter("t", rate, cancel.signal);
  cancel.abort(new Error("cancelled"));
  await assertRejects(() => waiting, Error, "cancelled");
  assertEquals(gates.queued("t"), 0);
  release();
  assertEquals(!!gates.tryEnter("t", rate), true);
});
