// A turn's tool calls as bars on one shared time axis, coloured by state,
// with each call's progress and duration, and each batch's wall time
// against its summed time.

import { element } from "./dom.js";

const STATES = {
  queued: "queued",
  awaiting_approval: "awaiting approval",
  running: "running",
  task: "background task",
  succeeded: "succeeded",
  failed: "failed",
  timed_out: "timed out",
  cancelled: "cancelled",
  interrupted: "interrupted",
};

/** The tool calls of one turn. `decide(callId, approved)` answers an approval. */
export class Timeline {
  constructor(parent, decide) {
    this.calls = new Map();
    this.decide = decide;
    this.rows = element("div", { className: "rows" });
    this.axis = element("div", { className: "axis" });
    this.batches = element("ul", { className: "batches" });
    this.element = element("section", { className: "timeline" }, [
      this.rows,
      this.axis,
      this.batches,
    ]);
    parent.append(this.element);
  }

  /** Whether a call still waits or runs (its bar grows). */
  get live() {
    return [...this.calls.values()].some((call) => call.end === undefined);
  }

  /** Takes in one conversation event about a call of this turn. */
  apply(event) {
    if (event.type === "tool_batch_finished") return this.#addBatch(event);
    const call = this.#call(event);
    switch (event.type) {
      case "tool_call_queued":
        return Object.assign(call, { state: "queued" });
      case "tool_call_awaiting_approval":
        return Object.assign(call, { state: "awaiting_approval", expiresAt: event.expiresAt });
      case "tool_call_approved":
        return Object.assign(call, { state: "queued", note: "approved" });
      case "tool_call_denied":
        return Object.assign(call, { note: `denied${event.reason ? `: ${event.reason}` : ""}` });
      case "tool_call_started":
        return Object.assign(call, { state: "running", startedAt: event.at || undefined });
      case "tool_call_retrying":
        return Object.assign(call, {
          note: `attempt ${event.attempt} of ${event.attempts} after ${event.previous}`,
        });
      case "tool_call_progress":
        return Object.assign(call, { note: event.text });
      case "tool_call_finished":
        if (event.status === "running") {
          return Object.assign(call, { state: "task", note: `continues as ${event.taskId}` });
        }
        return this.#end(call, event.status, event.at, event.ms, event.content);
      case "task_finished":
        return this.#end(call, event.status, event.at, undefined, event.content);
    }
  }

  /** Lays every bar out on the turn's axis, running ones up to `now`. */
  draw(now = Date.now()) {
    const calls = [...this.calls.values()];
    const from = Math.min(...calls.map((call) => call.since ?? startOf(call)));
    const to = Math.max(from + 1, ...calls.map((call) => call.end ?? now));
    const place = (node, start, end) => {
      node.style.left = `${((start - from) / (to - from)) * 100}%`;
      node.style.width = `max(2px, ${((end - start) / (to - from)) * 100}%)`;
    };
    for (const call of calls) {
      const start = startOf(call);
      const end = call.end ?? now;
      const { bar, wait, state, duration, note, actions } = call.view;
      place(bar, start, end);
      // The time it waited (for a worker, a limit or a person) before it ran, drawn faint.
      wait.hidden = !(call.since < start);
      if (!wait.hidden) place(wait, call.since, start);
      bar.className = `bar ${call.state}`;
      Object.assign(bar.dataset, { state: call.state, start, end: call.end ?? "" });
      if (call.state === "running" && !bar.dataset.runningShownAt) {
        bar.dataset.runningShownAt = String(Date.now());
      }
      state.textContent = STATES[call.state] ?? call.state;
      duration.textContent = `${Math.round(call.ms ?? end - start)} ms`;
      note.textContent = call.note ?? "";
      actions.hidden = call.state !== "awaiting_approval";
    }
    this.axis.textContent = `0 — ${Math.round(to - from)} ms`;
  }

  #call(event) {
    let call = this.calls.get(event.callId);
    if (!call) {
      const { callId, name, input } = event;
      call = { callId, name, input, since: event.at || undefined };
      call.view = this.#row(call);
      this.calls.set(event.callId, call);
    }
    return call;
  }

  #end(call, state, at, ms, content) {
    call.startedAt ??= at && ms !== undefined ? at - ms : undefined; // replayed: no start time
    return Object.assign(call, {
      state,
      end: at || undefined,
      ms: call.state === "task" ? undefined : ms,
      note: state === "succeeded" ? call.note : firstLine(content),
    });
  }

  #row(call) {
    const view = {
      bar: element("div", { className: "bar" }),
      wait: element("div", { className: "wait", hidden: true }),
      state: element("span", { className: "state" }),
      duration: element("span", { className: "duration" }),
      note: element("span", { className: "note" }),
      actions: element("span", { className: "approval", hidden: true }, [
        element("button", {
          className: "approve",
          textContent: "Approve",
          onclick: () => this.decide(call.callId, true),
        }),
        element("button", {
          className: "deny",
          textContent: "Deny",
          onclick: () => this.decide(call.callId, false),
        }),
      ]),
    };
    view.bar.dataset.callId = call.callId;
    this.rows.append(element("div", { className: "row" }, [
      element("div", { className: "label" }, [
        element("strong", { textContent: call.name }),
        inputView(call.input),
        view.state,
        view.duration,
        view.actions,
        view.note,
      ]),
      element("div", { className: "track" }, [view.wait, view.bar]),
    ]));
    return view;
  }

  #addBatch({ count, wallMs, summedMs }) {
    this.batches.append(element("li", {
      textContent: `${count} call${count === 1 ? "" : "s"} in ${Math.round(wallMs)} ms (${
        Math.round(summedMs)
      } ms summed${
        summedMs > wallMs * 1.05 ? `, ${(summedMs / wallMs).toFixed(1)}× in parallel` : ""
      })`,
    }));
  }
}

/** A call's input in its row: shortened on one line, whole when unfolded. */
function inputView(input = {}) {
  const json = JSON.stringify(input);
  return element("details", { className: "input" }, [
    element("summary", { textContent: json.length > 80 ? `${json.slice(0, 80)}…` : json }),
    element("pre", { textContent: JSON.stringify(input, null, 2) }),
  ]);
}

function startOf(call) {
  return call.startedAt ?? call.since ?? call.end ?? Date.now();
}

function firstLine(text = "") {
  const line = text.split("\n")[0];
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}
