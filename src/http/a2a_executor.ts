/**
 * The agent behind the A2A endpoint: an A2A task is one turn of a
 * conversation, and the A2A `contextId` is the conversation's id.
 *
 * @module
 */
import { type Message, type Part, Role, type Task, TaskState } from "@a2a-js/sdk";
import {
  AgentEvent,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
} from "@a2a-js/sdk/server";
import type { AgentSystem } from "../../actors/agent_system.ts";
import type { ConversationEvent } from "../events.ts";
import { MAX_TEXT_CHARS } from "./schemas.ts";
import type {
  ConversationSupervisor,
  TurnResult,
} from "../../actors/supervisor/conversation_supervisor.ts";

/**
 * Runs each A2A message as a turn. A task stays `working` while its turn
 * runs and while calls of it continue as background tasks; it completes
 * with the answer once their results have reached the model.
 *
 * @example
 * ```ts ignore
 * const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new TurnExecutor(system));
 * ```
 */
export class TurnExecutor implements AgentExecutor {
  readonly #system: AgentSystem;
  /** The task each message under way started, by the message's id. */
  readonly #taskOfMessage = new Map<string, string>();
  /** The conversation of each task under way, and whether it was cancelled. */
  readonly #running = new Map<
    string,
    { conversation: ConversationSupervisor; cancelled: boolean }
  >();

  constructor(system: AgentSystem) {
    this.#system = system;
  }

  async execute(request: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId, userMessage } = request;
    const status = (state: TaskState, text?: string) => ({
      taskId,
      contextId,
      status: statusOf(state, contextId, taskId, text),
      metadata: undefined,
    });
    bus.publish(AgentEvent.task(newTask(taskId, contextId, userMessage)));
    const text = userMessage.parts.map(textOf).join("");
    const refused = text.length > MAX_TEXT_CHARS
      ? `The message has ${text.length} characters; at most ${MAX_TEXT_CHARS} are taken.`
      : !text.trim()
      ? "The message has no text part."
      : undefined;
    const conversation = refused ? undefined : await this.#conversation(contextId);
    if (!conversation) {
      const why = refused ??
        `The contextId must be a conversation's id (a UUID), not "${contextId}".`;
      bus.publish(AgentEvent.statusUpdate(status(TaskState.TASK_STATE_REJECTED, why)));
      return bus.finished();
    }
    const run = { conversation, cancelled: false };
    this.#running.set(taskId, run);
    this.#taskOfMessage.set(userMessage.messageId, taskId);
    // The turn's progress, as a person watching it would see it: each call as it starts and ends.
    const stopProgress = conversation.subscribe((event) => {
      const line = progressLine(event);
      if (line) bus.publish(AgentEvent.statusUpdate(status(TaskState.TASK_STATE_WORKING, line)));
    });
    try {
      const answer = await this.#untilSettled(conversation, text, (interim) => {
        // Its answer so far, while calls of it go on as background tasks.
        bus.publish(AgentEvent.statusUpdate(status(TaskState.TASK_STATE_WORKING, interim.text)));
      });
      stopProgress();
      if (run.cancelled) return; // cancelTask said so already
      if (answer.completed) {
        bus.publish(AgentEvent.artifactUpdate(answerArtifact(taskId, contextId, answer.text)));
      }
      const state = answer.completed ? TaskState.TASK_STATE_COMPLETED : TaskState.TASK_STATE_FAILED;
      bus.publish(AgentEvent.statusUpdate(status(state, answer.text)));
    } finally {
      stopProgress();
      this.#running.delete(taskId);
      this.#taskOfMessage.delete(userMessage.messageId);
      bus.finished();
    }
  }

  /** The task a message under way started, if it is still under way. */
  taskOf(messageId: string): string | undefined {
    return this.#taskOfMessage.get(messageId);
  }

  cancelTask(taskId: string, bus: ExecutionEventBus): Promise<void> {
    const run = this.#running.get(taskId);
    if (run) {
      run.cancelled = true;
      run.conversation.cancel();
      const contextId = run.conversation.id;
      bus.publish(AgentEvent.statusUpdate({
        taskId,
        contextId,
        status: statusOf(TaskState.TASK_STATE_CANCELED, contextId, taskId, "Cancelled."),
        metadata: undefined,
      }));
    }
    return Promise.resolve();
  }

  /** The conversation `contextId` names, made on its first message. */
  async #conversation(contextId: string): Promise<ConversationSupervisor | undefined> {
    const found = await this.#system.get(contextId);
    if (found) return found;
    try {
      return await this.#system.createConversation({ id: contextId });
    } catch {
      return await this.#system.get(contextId); // made meanwhile by a message sent at once, or not a UUID
    }
  }

  /**
   * The turn's answer, or, when calls of it continue as background tasks,
   * the answer of the turn their last result starts.
   */
  async #untilSettled(
    conversation: ConversationSupervisor,
    text: string,
    interim: (answer: Answer) => void,
  ): Promise<Answer> {
    const background = new Set<string>();
    let sent = false;
    const settled = Promise.withResolvers<Answer>();
    const stop = conversation.subscribe((event) => {
      if (event.type === "task_started") background.add(event.taskId);
      else if (event.type === "turn_started" && event.taskId) background.delete(event.taskId);
      else if (event.type === "turn_finished" || event.type === "turn_failed") {
        if (sent && background.size === 0) settled.resolve(answerOf(event));
      }
    });
    try {
      const answer = answerOf(await conversation.send(text));
      sent = true;
      if (background.size === 0) return answer;
      interim(answer);
      return await settled.promise;
    } finally {
      stop();
    }
  }
}

/** How a turn ended, as its task reports it: the answer, or why it failed. */
interface Answer {
  completed: boolean;
  text: string;
}

function answerOf(ended: TurnResult | { text: string } | { error: { message: string } }): Answer {
  return "error" in ended
    ? { completed: false, text: ended.error.message }
    : { completed: true, text: ended.text };
}

/** A status line for an event a watcher of the task wants to see, if it is one. */
function progressLine(event: ConversationEvent): string | undefined {
  switch (event.type) {
    case "tool_call_started":
      return `Calling ${event.name}.`;
    case "tool_call_awaiting_approval":
      return `${event.name} waits for a person's approval (call ${event.callId}).`;
    case "tool_call_finished":
      return event.status === "running"
        ? `${event.name} goes on as background task ${event.taskId}.`
        : `${event.name} ${event.status.replace("_", " ")}.`;
    case "task_finished":
      return `${event.name} (background task ${event.taskId}) ${event.status.replace("_", " ")}.`;
  }
}

/** The turn's answer as the task's output: clients read `artifacts`, not the last status. */
function answerArtifact(taskId: string, contextId: string, text: string) {
  return {
    taskId,
    contextId,
    artifact: {
      artifactId: `${taskId}-answer`,
      name: "answer",
      description: "The model's answer.",
      parts: [textPart(text)],
      metadata: undefined,
      extensions: [],
    },
    append: false,
    lastChunk: true,
    metadata: undefined,
  };
}

function textPart(text: string): Part {
  return {
    content: { $case: "text" as const, value: text },
    metadata: undefined,
    filename: "",
    mediaType: "text/plain",
  };
}

function textOf(part: Part): string {
  return part.content?.$case === "text" ? part.content.value : "";
}

function newTask(id: string, contextId: string, message: Message): Task {
  return {
    id,
    contextId,
    status: statusOf(TaskState.TASK_STATE_WORKING, contextId, id),
    artifacts: [],
    history: [message],
    metadata: undefined,
  };
}

function statusOf(state: TaskState, contextId: string, taskId: string, text?: string) {
  return {
    state,
    timestamp: new Date().toISOString(),
    message: text === undefined ? undefined : {
      messageId: crypto.randomUUID(),
      contextId,
      taskId,
      role: Role.ROLE_AGENT,
      parts: [textPart(text)],
      metadata: undefined,
      extensions: [],
      referenceTaskIds: [],
    },
  };
}
