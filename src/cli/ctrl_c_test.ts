import { assertEquals } from "@std/assert";
import { CtrlC, SAME_KEY_PRESS_MS } from "./ctrl_c.ts";

function clock() {
  const time = { now: 1000 };
  return { time, ctrlC: new CtrlC(() => time.now) };
}

Deno.test("a key press passed on by `deno task` after the cancelled turn ended does not quit", () => {
  const { time, ctrlC } = clock();
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  ctrlC.turnEnded();
  time.now += SAME_KEY_PRESS_MS - 1;
  assertEquals(ctrlC.pressed({ turnRunning: false }), "same key press");
});

Deno.test("a key press passed on late does not cancel the next turn", () => {
  const { time, ctrlC } = clock();
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  ctrlC.turnEnded();
  time.now += 300;
  assertEquals(ctrlC.pressed({ turnRunning: true }), "same key press");
});

Deno.test("Ctrl-C again while the cancel is under way quits", () => {
  const { time, ctrlC } = clock();
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  time.now += 2000;
  assertEquals(ctrlC.pressed({ turnRunning: true }), "quit");
});

Deno.test("Ctrl-C cancels each turn in its turn, and quits when no turn runs", () => {
  const { time, ctrlC } = clock();
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  ctrlC.turnEnded();
  time.now += 5000;
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  ctrlC.turnEnded();
  time.now += 5000;
  assertEquals(ctrlC.pressed({ turnRunning: false }), "quit");
});

Deno.test("a stream of SIGINTs close together is one key press", () => {
  const { time, ctrlC } = clock();
  assertEquals(ctrlC.pressed({ turnRunning: true }), "cancel");
  for (let i = 0; i < 5; i++) {
    time.now += SAME_KEY_PRESS_MS - 1;
    assertEquals(ctrlC.pressed({ turnRunning: true }), "same key press");
  }
});
