/**
 * The CLI at a terminal, started exactly as README says (`deno task run`),
 * with the offline model (no API key), which makes the calls a prompt names.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { stripAnsiCode } from "@std/fmt/colors";
import { PseudoTerminal } from "./support/pseudo_terminal.ts";

const RUN = "deno task run --tools tests/fixtures/tools";
const ENV = { AGENT_DATA: ":memory:" };

Deno.test("Ctrl-C under `deno task run` cancels the running turn, and the session goes on", async () => {
  await using terminal = new PseudoTerminal(RUN, ENV);
  await terminal.waitFor(/Interactive session/);
  await terminal.type('call sleep {"ms": 60000}\n');
  const running = await terminal.waitFor(/sleep \{"ms":60000\} \d+\.\d\d s {2}sleeping 60000 ms/);
  await terminal.type("\x03");
  const cancelled = await terminal.waitFor(
    /Error \(cancelled\): The turn was cancelled\./,
    running,
  );
  await terminal.type("call current_time\n");
  await terminal.waitFor(/- current_time: /, cancelled);
  await terminal.type("/exit\n");
  assertEquals(await terminal.status(), 0, stripAnsiCode(terminal.raw));
  const screen = stripAnsiCode(terminal.raw.slice(running));
  assertEquals(screen.match(/Cancelling the turn/g)?.length, 1, "one Ctrl-C, one cancel");
  assertMatch(screen, /■ sleep \{"ms":60000\} cancelled/);
});

Deno.test("an approval at the terminal shows the whole input, and nothing draws over the question", async () => {
  await using terminal = new PseudoTerminal(RUN, ENV);
  await terminal.waitFor(/Interactive session/);
  await terminal.type('call pay {"amount": 150}; call pay {"amount": 5000}\n');
  // The two calls ask at once; the questions come one at a time, in either order.
  const asked: number[] = [];
  for (let from = 0; asked.length < 2;) {
    from = await terminal.waitFor(/Run pay \{"amount":\d+\}\? \[y\/N\] $/, from);
    asked.push(from);
    const amount = /"amount":(\d+)\}\? \[y\/N\] $/.exec(stripAnsiCode(terminal.raw))![1];
    await terminal.type(amount === "150" ? "y\n" : "n\n");
  }
  await terminal.waitFor(/- pay \(error\): The call was denied/, asked[1]);
  await terminal.type("/exit\n");
  assertEquals(await terminal.status(), 0);
  const raw = terminal.raw;
  for (const question of asked) {
    const untilAnswer = raw.slice(question, raw.indexOf("\n", question));
    assert(
      !untilAnswer.includes("\x1b["),
      `drawn over the question: ${JSON.stringify(untilAnswer)}`,
    );
  }
  const screen = stripAnsiCode(raw);
  assertMatch(screen, /⏸ pay \{"amount":5000\} awaiting approval \d+\.\d\d s/);
  assertMatch(screen, /- pay: paid 150/);
  assert(!screen.includes("NaN"), screen);
});
