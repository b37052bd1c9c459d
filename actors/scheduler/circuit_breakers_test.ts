import { assertEquals, assertStringIncludes } from "@std/assert";
import { CircuitBreakers } from "./circuit_breakers.ts";

function breakers() {
  const clock = { now: 1_000_000 };
  return {
    clock,
    breakers: new CircuitBreakers({ failures: 3, cooldownMs: 10_000 }, () => clock.now),
  };
}

Deno.test("a breaker opens after N consecutive failures and tells the model until when", () => {
  const { breakers: b, clock } = breakers();
  b.record("lookup", false);
  b.record("lookup", false);
  assertEquals(b.admit("lookup"), undefined, "two failures are not yet a pattern");
  b.record("lookup", false);
  const refusal = b.admit("lookup")!;
  assertStringIncludes(refusal, 'The tool "lookup" is unavailable: its last 3 calls failed');
  assertStringIncludes(refusal, new Date(clock.now + 10_000).toISOString());
  assertEquals(b.state("lookup").state, "open");
  assertEquals(b.admit("other"), undefined, "other tools are not affected");
});

Deno.test("a success between failures resets the count", () => {
  const { breakers: b } = breakers();
  b.record("lookup", false);
  b.record("lookup", false);
  b.record("lookup", true);
  b.record("lookup", false);
  b.record("lookup", false);
  assertEquals(b.admit("lookup"), undefined);
});

Deno.test("after the cool-down one trial call runs; its success closes the breaker", () => {
  const { breakers: b, clock } = breakers();
  for (let i = 0; i < 3; i++) b.record("lookup", false);
  clock.now += 10_000;
  assertEquals(b.state("lookup").state, "half_open");
  assertEquals(b.admit("lookup"), undefined, "the trial");
  assertStringIncludes(b.admit("lookup")!, "a trial call is under way");
  b.record("lookup", true);
  assertEquals(b.state("lookup"), { state: "closed", failures: 0 });
  assertEquals(b.admit("lookup"), undefined);
});

Deno.test("a failed trial opens the breaker for another cool-down", () => {
  const { breakers: b, clock } = breakers();
  for (let i = 0; i < 3; i++) b.record("lookup", false);
  clock.now += 10_000;
  b.admit("lookup");
  b.record("lookup", false);
  assertEquals(b.state("lookup").state, "open");
  assertEquals(Object.keys(b.tripped()), ["lookup"]);
  clock.now += 9_999;
  assertStringIncludes(b.admit("lookup")!, "unavailable");
});
