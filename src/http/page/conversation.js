// One conversation: its turns (the message, the streamed answer, the tool
// calls on a timeline), kept live from its event stream, with the buttons
// that steer it.

import { followEvents, request, sendMessage } from "./api.js";
import { element } from "./dom.js";
import { Timeline } from "./timeline.js";

/** Shows conversation `id` in `root` until `signal` aborts; `onDenied(error)` for a refused stream. */
export function showConversation(root, id, { signal, onDenied }) {
  const view = new ConversationView(root, id);
  const ticker = setInterval(() => view.tick(), 100);
  signal.addEventListener("abort", () => clearInterval(ticker));
  followEvents(id, (event) => view.apply(event), {
    signal,
    onLink: (connected) => view.link(connected),
  }).catch(onDenied);
}

class ConversationView {
  constructor(root, id) {
    this.id = id;
    this.turns = [];
    this.byCall = new Map(); // callId → the turn's timeline (background tasks report after their turn)
    this.running = false;
    this.status = element("span", { className: "status", textContent: "connecting…" });
    this.cancel = element("button", {
      className: "cancel",
      textContent: "Cancel turn",
      disabled: true,
      onclick: () => this.#act(request("POST", `/v1/conversations/${id}/cancel`)),
    });
    this.error = element("p", { className: "error", hidden: true });
    this.feed = element("div", { className: "feed" });
    // The model's thinking is folded into each turn; this switch hides it altogether.
    const showThinking = element("input", {
      type: "checkbox",
      checked: true,
      onchange: () => this.feed.classList.toggle("no-thinking", !showThinking.checked),
    });
    const input = element("textarea", { name: "content", rows: 2, required: true });
    const form = element("form", { className: "send" }, [
      input,
      element("button", { textContent: "Send" }),
    ]);
    form.onsubmit = (submit) => {
      submit.preventDefault();
      this.#act(sendMessage(id, input.value));
      input.value = "";
    };
    root.replaceChildren(
      element("header", { className: "conversation" }, [
        element("a", { href: "#/", textContent: "← Conversations" }),
        element("code", { textContent: id }),
        this.status,
        element("label", { className: "thinking-switch" }, [showThinking, " thinking"]),
        this.cancel,
      ]),
      this.error,
      this.feed,
      form,
    );
  }

  /** The stream is (dis)connected. */
  link(connected) {
    this.connected = connected;
    this.#showStatus();
  }

  apply(event) {
    const turn = this.turns.at(-1);
    switch (event.type) {
      case "turn_started":
        this.#startTurn(event);
        break;
      case "turn_resumed":
        turn?.note(
          `Resumed after a restart: ${event.interrupted.length} interrupted, ${event.rerun.length} run again.`,
        );
        break;
      case "text_delta":
        turn?.addText(event.text);
        break;
      case "thinking_delta":
        turn?.addThinking(event.text);
        break;
      case "server_tool_used":
        turn?.addServerTool(event);
        break;
      case "model_call_started":
        turn?.note(`Model call ${event.step}…`);
        break;
      case "turn_finished":
        turn?.finish(`Done in ${event.steps} step${event.steps === 1 ? "" : "s"}.`, false);
        this.running = false;
        break;
      case "turn_failed":
        turn?.finish(`Failed: ${event.error.message}`, true);
        this.running = false;
        break;
      default:
        if (event.type.startsWith("tool_") || event.type === "task_finished") this.#toCall(event);
    }
    this.#showStatus();
  }

  /** Grows the bars of calls still under way. */
  tick() {
    for (const timeline of new Set(this.byCall.values())) if (timeline.live) timeline.draw();
  }

  #startTurn(event) {
    const turn = new TurnView(
      this.feed,
      event,
      (callId, approved) => this.#decide(callId, approved),
    );
    this.turns.push(turn);
    this.running = true;
  }

  #toCall(event) {
    const timeline = event.callId ? this.byCall.get(event.callId) : undefined;
    const target = timeline ?? this.turns.at(-1)?.timeline();
    if (!target) return;
    if (event.callId) this.byCall.set(event.callId, target);
    target.apply(event);
    target.draw();
  }

  #decide(callId, approved) {
    const reason = approved ? undefined : "Denied from the web page.";
    this.#act(request("POST", `/v1/conversations/${this.id}/calls/${callId}/approval`, {
      approved,
      ...(reason ? { reason } : {}),
    }));
  }

  #act(done) {
    this.error.hidden = true;
    done.catch((error) => {
      this.error.textContent = error.message;
      this.error.hidden = false;
    });
  }

  #showStatus() {
    const state = this.running ? "running" : "idle";
    this.status.textContent = this.connected === false ? `${state} · reconnecting…` : state;
    this.status.dataset.state = state;
    this.cancel.disabled = !this.running;
  }
}

/** A turn: what started it, then its answer and tool calls in the order they came. */
class TurnView {
  constructor(feed, event, decide) {
    this.decide = decide;
    this.body = element("div", { className: "body" });
    this.status = element("p", { className: "turn-status" });
    this.element = element("article", { className: "turn" }, [
      element("p", {
        className: event.taskId ? "cause task" : "cause user",
        textContent: event.taskId ? `Result of background task ${event.taskId}` : event.text,
      }),
      this.body,
      this.status,
    ]);
    this.element.dataset.turn = event.turn;
    feed.append(this.element);
  }

  /** The turn's timeline, made where its first call shows up; later calls join it. */
  timeline() {
    this.calls ??= new Timeline(this.body, this.decide);
    return this.calls;
  }

  /** Streamed text: it goes on the answer under way, or starts one after the calls. */
  addText(text) {
    let answer = this.body.lastElementChild;
    if (answer?.className !== "answer") {
      this.body.append(answer = element("p", { className: "answer" }));
    }
    answer.textContent += text;
  }

  /** A server tool the model used: it ran at Anthropic, so it has no bar. */
  addServerTool({ name, input, failed }) {
    const text = `☁ ${name} ran at Anthropic${failed ? " and failed" : ""}: ${
      JSON.stringify(input)
    }`;
    this.body.append(element("p", { className: "server-tool", textContent: text }));
  }

  /** Thinking, folded: it goes on the fold under way, or starts one. */
  addThinking(text) {
    let fold = this.body.lastElementChild;
    if (fold?.className !== "thinking") {
      fold = element("details", { className: "thinking" }, [
        element("summary", { textContent: "Thinking" }),
        element("p"),
      ]);
      this.body.append(fold);
    }
    fold.lastElementChild.textContent += text;
  }

  note(text) {
    this.status.textContent = text;
  }

  finish(text, failed) {
    this.status.textContent = text;
    this.status.classList.toggle("failed", failed);
    this.element.dataset.done = failed ? "failed" : "finished";
  }
}
