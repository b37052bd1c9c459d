/**
 * Renders a conversation's events for a person: assistant text on stdout,
 * tool activity on stderr (a live table of every call on a terminal, one
 * line per event otherwise).
 *
 * @module
 */
import type { ConversationEvent } from "../events.ts";
import type { CallState } from "../journal/records.ts";
import { describeUsage } from "../token_usage.ts";

interface CallLine {
  name: string;
  /** The call's input on one line, shortened, after a space: two calls of one tool differ by it. */
  input: string;
  started: number;
  status?: CallState;
  ms?: number;
  note?: string;
}

const MARK: Record<CallState, string> = {
  awaiting_approval: "⏸",
  queued: "·",
  running: "↻",
  succeeded: "✓",
  failed: "✗",
  timed_out: "⏱",
  cancelled: "■",
  interrupted: "↯",
};
const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
const DIM = "\x1b[2m";
const UNDIM = "\x1b[22m";
const encoder = new TextEncoder();

/** Where and how a {@linkcode TerminalView} writes. */
export interface TerminalViewOptions {
  stdout?: { writeSync(bytes: Uint8Array): number };
  stderr?: { writeSync(bytes: Uint8Array): number };
  /** Redraw tool lines in place; defaults to whether stderr is a terminal. */
  live?: boolean;
  /** Show the model's thinking, dimmed, on stderr. Default true. */
  thinking?: boolean;
  /** The terminal's width: live rows are cut to it, so none wraps. Default: the console's. */
  columns?: number;
}

/**
 * An event listener that renders to the terminal.
 *
 * @example
 * ```ts ignore
 * const view = new TerminalView();
 * conversation.subscribe((event) => view.render(event));
 * ```
 */
export class TerminalView {
  readonly #out: NonNullable<TerminalViewOptions["stdout"]>;
  readonly #err: NonNullable<TerminalViewOptions["stderr"]>;
  readonly #live: boolean;
  readonly #thinking: boolean;
  /** Whether dimmed thinking is being written and its line not yet ended. */
  #inThought = false;
  readonly #calls = new Map<string, CallLine>();
  #drawn = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #textEndsLine = true;
  readonly #columns: number;
  /** Lines held while a question waits for its answer, so that none is written into it. */
  #held: string[] | undefined;

  constructor(options: TerminalViewOptions = {}) {
    this.#out = options.stdout ?? Deno.stdout;
    this.#err = options.stderr ?? Deno.stderr;
    this.#live = options.live ?? Deno.stderr.isTerminal();
    this.#thinking = options.thinking ?? true;
    this.#columns = options.columns ?? _consoleColumns();
  }

  /**
   * Puts a question to the person below everything else (the live table is
   * taken down, so nothing draws over it) and holds every other line until
   * {@linkcode TerminalView.answered}: what they answer is what they read.
   */
  ask(question: string): void {
    this.#endTextLine();
    if (this.#drawn > 0) this.#write(this.#err, `\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
    this.#held ??= [];
    this.#write(this.#err, question);
  }

  /**
   * The question was answered: `echo` ends its line where the terminal did
   * not (stdin piped); then the held lines and the table come back.
   */
  answered(echo = ""): void {
    this.#write(this.#err, echo);
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of held) this.#line(line);
    if (this.#live && this.#calls.size > 0) this.#redraw();
  }

  /** A line of the CLI's own (e.g. "Cancelling…"), above the live table. */
  notice(text: string): void {
    this.#endTextLine();
    this.#announce(text);
  }

  /** Renders one event. */
  render(event: ConversationEvent): void {
    switch (event.type) {
      case "server_tool_used":
        this.#endTextLine();
        return this.#line(
          `☁ ${event.name} ran at Anthropic${event.failed ? " and failed" : ""}: ${
            JSON.stringify(event.input).slice(0, 120)
          }`,
        );
      case "thinking_delta":
        if (!this.#thinking) return;
        this.#inThought = !event.text.endsWith("\n");
        return this.#write(this.#err, `${DIM}${event.text}${UNDIM}`);
      case "text_delta":
        this.#endThought();
        this.#write(this.#out, event.text);
        this.#textEndsLine = event.text.endsWith("\n");
        return;
      case "model_call_retrying":
        this.#endTextLine();
        return this.#write(this.#err, `${event.reason} Asking again (attempt ${event.attempt}).\n`);
      case "tool_call_started":
        this.#endTextLine();
        this.#calls.set(event.callId, {
          name: event.name,
          input: shortInput(event.input),
          started: event.at,
        });
        return this.#live
          ? this.#startTicker()
          : this.#line(`▶ ${event.name}${shortInput(event.input)} started (${event.callId})`);
      case "tool_call_awaiting_approval":
        this.#endTextLine();
        this.#calls.set(event.callId, {
          name: event.name,
          input: shortInput(event.input),
          started: event.at,
          status: "awaiting_approval",
        });
        return this.#live ? this.#startTicker() : this.#line(
          `⏸ ${event.name}${shortInput(event.input)} awaits approval (${event.callId})`,
        );
      case "tool_call_approved":
      case "tool_call_denied": {
        const approved = event.type === "tool_call_approved";
        if (!this.#live) {
          const reason = !approved && event.reason ? `: ${event.reason}` : "";
          return this.#line(
            `${approved ? "✔" : "✗"} ${event.name} ${approved ? "approved" : "denied"}${reason}`,
          );
        }
        const call = this.#calls.get(event.callId);
        if (call) {
          Object.assign(call, { status: undefined, note: approved ? "approved" : "denied" });
        }
        return this.#redraw();
      }
      case "tool_call_progress": {
        // A background task reports on after its batch has left the table.
        const call = this.#calls.get(event.callId);
        if (call) call.note = event.text;
        if (!this.#live) return this.#line(`… ${event.name}: ${event.text}`);
        return call ? this.#redraw() : undefined;
      }
      case "tool_call_finished": {
        // A denied call never started.
        const line = this.#calls.get(event.callId) ??
          { name: event.name, input: "", started: event.at };
        this.#calls.set(event.callId, line);
        const call = Object.assign(line, {
          status: event.status,
          // A call that goes on as a task has run as long as the turn waited for it.
          ms: event.status === "running" ? event.at - line.started : event.ms,
          note: event.status === "running"
            ? `continues as ${event.taskId}`
            : event.status === "succeeded"
            ? undefined
            : oneLine(event.content),
        });
        return this.#live ? this.#redraw() : this.#line(describe(call));
      }
      case "task_finished": {
        this.#endTextLine();
        const call = this.#calls.get(event.callId);
        const took = call ? ` after ${seconds(event.at - call.started)}` : "";
        if (call) Object.assign(call, { status: event.status, ms: event.at - call.started });
        return this.#announce(
          `${MARK[event.status]} ${event.name} task ${event.taskId} ${
            event.status.replace("_", " ")
          }${took}: ${oneLine(event.content)}`,
        );
      }
      case "turn_started":
        if (event.taskId) this.#announce(`The result of ${event.taskId} goes to the model.`);
        return;
      case "turn_resumed":
        return this.#announce(
          `Turn ${event.turn} resumed after a restart (${event.interrupted.length} interrupted, ${event.rerun.length} run again).`,
        );
      case "tool_batch_finished":
        this.#stopTicker();
        this.#calls.clear();
        this.#drawn = 0;
        return this.#line(batchLine(event.count, event.wallMs, event.summedMs));
      case "turn_finished":
        this.#endTextLine();
        if (event.stopReason !== "end_turn" && event.stopReason !== "stop_sequence") {
          this.#line(`Stopped: ${STOP_REASONS[event.stopReason] ?? event.stopReason}`);
        }
        return this.#line(describeUsage(event.usage));
      case "turn_failed":
        this.#stopTicker();
        this.#endTextLine();
        this.#line(`Error (${event.error.type}): ${event.error.message}`);
        return this.#line(describeUsage(event.usage));
    }
  }

  #startTicker(): void {
    this.#ticker ??= setInterval(() => this.#redraw(), 100);
    this.#redraw();
  }

  #stopTicker(): void {
    if (this.#ticker === undefined) return;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#redraw();
  }

  #redraw(): void {
    if (this.#held) return; // a question is on screen
    const now = Date.now();
    const lines = [...this.#calls.values()].map((call) =>
      call.status
        ? describe(call, now)
        : `${SPINNER[Math.floor(now / 100) % SPINNER.length]} ${call.name}${call.input} ${
          seconds(now - call.started)
        }${call.note ? `  ${call.note}` : ""}`
    );
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : "";
    // A row that wrapped would take two lines and the cursor would go up too few.
    const rows = lines.map((line) => `  ${cut(line, this.#columns - 3)}\n`);
    this.#write(this.#err, `${up}\x1b[J${rows.join("")}`);
    this.#drawn = lines.length;
  }

  #line(text: string): void {
    if (this.#held) this.#held.push(text);
    else this.#write(this.#err, `${text}\n`);
  }

  /** A line above the live table, which is drawn again below it. */
  #announce(text: string): void {
    if (!this.#live || this.#drawn === 0 || this.#held) return this.#line(text);
    this.#write(this.#err, `\x1b[${this.#drawn}F\x1b[J${text}\n`);
    this.#drawn = 0;
    this.#redraw();
  }

  #endTextLine(): void {
    this.#endThought();
    if (!this.#textEndsLine) this.#write(this.#out, "\n");
    this.#textEndsLine = true;
  }

  /** Thinking ends its own line, so that what follows starts on one. */
  #endThought(): void {
    if (this.#inThought) this.#write(this.#err, "\n");
    this.#inThought = false;
  }

  #write(stream: { writeSync(bytes: Uint8Array): number }, text: string): void {
    const bytes = encoder.encode(text);
    for (let written = 0; written < bytes.length;) {
      written += stream.writeSync(bytes.subarray(written));
    }
  }
}

const STOP_REASONS: Record<string, string> = {
  max_tokens: "the answer reached the token limit (max_tokens) and is cut off.",
  refusal: "the model declined to answer (refusal).",
  pause_turn: "the model paused its turn (pause_turn); send another message to continue.",
  model_context_window_exceeded: "the conversation no longer fits the model's context window.",
};

/** A call's row; one still waiting shows how long it has waited until `now`. */
function describe(call: CallLine, now = Date.now()): string {
  const failure = call.status === "succeeded" ? "" : ` ${call.status!.replace("_", " ")}`;
  return `${MARK[call.status!]} ${call.name}${call.input}${failure} ${
    seconds(call.ms ?? now - call.started)
  }${call.note ? `: ${call.note}` : ""}`;
}

/**
 * An input on one line, at most 60 characters, after a space: enough to
 * tell two calls apart (nothing for an empty one).
 */
function shortInput(input: unknown): string {
  const json = JSON.stringify(input) ?? "";
  return json === "{}" || json === "" ? "" : ` ${cut(json, 60)}`;
}

function cut(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, Math.max(length - 1, 0))}…` : text;
}

function _consoleColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80; // not a terminal
  }
}

function batchLine(count: number, wallMs: number, summedMs: number): string {
  if (count === 1) return `1 tool: ${seconds(wallMs)}`;
  return `${count} tools in parallel: ${seconds(wallMs)} wall, ${seconds(summedMs)} summed`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function oneLine(text: string): string {
  return cut(text.replace(/\s+/g, " ").trim(), 120);
}
