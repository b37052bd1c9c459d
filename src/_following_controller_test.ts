import { assertEquals } from "@std/assert";
import { FollowingController } from "./_following_controller.ts";

Deno.test("a following controller aborts with its parent's reason", () => {
  const parent = new AbortController();
  using child = new FollowingController(parent.signal);
  parent.abort("stopped");
  assertEquals([child.signal.aborted, child.signal.reason], [true, "stopped"]);
});

Deno.test("a following controller of an aborted parent starts aborted", () => {
  const parent = new AbortController();
  parent.abort("stopped");
  using child = new FollowingController(parent.signal);
  assertEquals(child.signal.reason, "stopped");
});

Deno.test("a disposed following controller no longer follows its parent", () => {
  const parent = new AbortController();
  const child = new FollowingController(parent.signal);
  child[Symbol.dispose]();
  parent.abort("stopped");
  assertEquals(child.signal.aborted, false);
});

Deno.test("a following controller aborts by itself without touching its parent", () => {
  const parent = new AbortController();
  using child = new FollowingController(parent.signal);
  child.abort("failed");
  assertEquals([child.signal.reason, parent.signal.aborted], ["failed", false]);
});
