/**
 * A command run in a pseudo-terminal, as a person runs it at a terminal:
 * through util-linux `script`, which gives it a terminal of its own.
 * Typed text goes through the terminal's line discipline, so Ctrl-C
 * (`\x03`) signals the terminal's foreground process group, as a key press
 * does: `deno task`'s runner and the program it started alike.
 *
 * @module
 */
import { stripAnsiCode } from "@std/fmt/colors";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running command at a terminal. */
export class PseudoTerminal implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #keys: WritableStreamDefaultWriter<Uint8Array>;
  #output = "";
  #changed = Promise.withResolvers<void>();
  readonly #ended: Promise<void>;

  /** Runs `command` (a shell command line) in the repository's folder with `env` added. */
  constructor(command: string, env: Record<string, string> = {}) {
    const inherited = Deno.env.toObject();
    delete inherited.ANTHROPIC_API_KEY; // the offline model, as for a newcomer
    // `exec`: the command is the terminal's foreground job itself, as from a
    // person's interactive shell. Without it, `script` leaves a non-interactive
    // shell in between (dash, where SHELL is unset, as under CI), which a
    // Ctrl-C kills, and `script` reports that shell's 130.
    this.#child = new Deno.Command("script", {
      args: ["--quiet", "--return", "--command", `exec ${command}`, "/dev/null"],
      cwd: ROOT,
      env: { ...inherited, COLUMNS: "120", LINES: "40", ...env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#keys = this.#child.stdin.getWriter();
    this.#ended = this.#read();
  }

  /** Everything the terminal showed so far, raw (with its escape sequences). */
  get raw(): string {
    return this.#output;
  }

  /** Types `text` at the keyboard. */
  async type(text: string): Promise<void> {
    await this.#keys.write(new TextEncoder().encode(text));
  }

  /**
   * Resolves once the screen's text (escape sequences left out) from
   * `from` on matches `pattern`, with where the match ends in the raw
   * output; rejects if the program ends first, or after `ms` (a test that
   * waits for what never shows fails, saying what did, rather than hang).
   */
  async waitFor(pattern: RegExp, from = 0, ms = 60_000): Promise<number> {
    const given = AbortSignal.timeout(ms);
    const gaveUp = new Promise<"gave up">((resolve) =>
      given.addEventListener("abort", () => resolve("gave up"))
    );
    for (;;) {
      const shown = () => stripAnsiCode(this.#output.slice(from));
      if (pattern.test(shown())) return this.#output.length;
      const next = await Promise.race([
        this.#changed.promise.then(() => "changed" as const),
        this.#ended.then(() => "ended" as const),
        gaveUp,
      ]);
      if (next !== "changed" && !pattern.test(shown())) {
        throw new Error(`${pattern} did not show (the program ${next}):\n${shown()}`);
      }
    }
  }

  /** The program's exit code, once it has ended. */
  async status(): Promise<number> {
    await this.#ended;
    return (await this.#child.status).code;
  }

  async #read(): Promise<void> {
    const stderr = this.#child.stderr.pipeTo(new WritableStream());
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      this.#output += chunk;
      this.#changed.resolve();
      this.#changed = Promise.withResolvers();
    }
    await stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#keys.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch { /* it had ended */ }
    await this.#ended;
    await this.#child.status;
  }
}
