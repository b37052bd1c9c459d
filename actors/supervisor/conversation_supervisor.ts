/**
 * The supervisor actor of one conversation: it receives its mailbox one
 * message at a time, calls the model, spawns one tool worker per tool call,
 * and journals every step, so that another process can carry on where it
 * stopped.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { ConversationEvent, ConversationEventInit, TurnError } from "../../src/events.ts";
import { NO_USAGE, type TokenUsage } from "../../src/token_usage.ts";
import type { InboxEntry, Journal, LoadedConversation } from "../../src/journal/journal.ts";
import {
  applyRecord,
  type ApprovalDecision,
  type CallUpdate,
  type ConversationState,
  fullHistoryOf,
  type JournalRecord,
  type TurnCause,
} from "../../src/journal/records.ts";
import type { InboxItem } from "../../src/journal/tasks.ts";
import type { Effort, Thinking } from "../../src/model/thinking.ts";
import type { RuntimeSettings } from "../runtime_settings.ts";
import { textOfBlocks, type UserBlock, userBlocksSchema } from "../../src/user_content.ts";
import { ConfigError } from "../../src/config_error.ts";
import type { TaskBoard } from "../task_board.ts";
import { Mailbox } from "../mailbox.ts";
import { ApprovalDesk } from "./approval_desk.ts";
import { ConversationLog, LeaseLost } from "./conversation_log.ts";
import { type CallInFlight, EventFeed } from "./event_feed.ts";
import type { TurnResult } from "./turn.ts";
import { TurnInterpreter } from "./turn_interpreter.ts";
import { followTurn } from "./_followed_turn.ts";

export { INTERRUPTED_CALL, type TurnResult } from "./turn.ts";

/** What a supervisor works with, shared by the system's supervisors. */
export interface SupervisorDeps {
  settings: RuntimeSettings;
  journal: Journal;
  tasks: TaskBoard;
  /** This process, as leases name it. */
  node: string;
  /** Called with each supervisor as it is spawned: where observers (tracing) attach. */
  onSpawn?: (supervisor: ConversationSupervisor) => void;
}

/** What may differ per conversation. */
export interface NewConversation {
  /** Its id, a UUID (an A2A client's `contextId`, say); a random one when absent. */
  id?: string;
  system?: string;
  modelName?: string;
  /** A subset of the catalog's tool names; all of them when absent. */
  tools?: string[];
  /** `max_tokens` its model calls start with; the system's `maxTokens` when absent. */
  maxTokens?: number;
  /**
   * What its tools are told of who they act for (`ctx.metadata`): a user id,
   * a tenant. Journaled, never sent to the model; JSON of at most 4096 bytes.
   */
  metadata?: Record<string, unknown>;
  /** Its extended thinking; the system's `thinking` when absent. */
  thinking?: Thinking;
  /** Its effort; the system's `effort` when absent. */
  effort?: Effort;
}

/**
 * A user message; `id` names the turn it starts in events. `content`: the
 * message as content blocks (text, images, documents), `text` then the line
 * shown for it.
 */
export type UserMessage = {
  type: "user_message";
  text: string;
  id?: string;
  content?: UserBlock[];
};

/** A person's message, as the journal keeps it. */
type UserMessageItem = Extract<InboxItem, { type: "user_message" }>;

/** How long a server streams a conversation after hearing that another one watches it. */
const WATCHING_TTL_MS = 15_000;

/** The messages a supervisor's mailbox receives. */
type SupervisorMessage =
  | { type: "inbox"; entry: InboxEntry<InboxItem> }
  /** Start a turn for a message to an idle conversation, accepting it in the same commit. */
  | { type: "start"; item: UserMessageItem; started: (ok: boolean) => void }
  /** Finish a turn that a crashed process left open. */
  | { type: "resume" };

/** What a conversation is doing now. */
export interface ConversationStatus {
  state: "running" | "idle";
  /** Messages waiting for the running turn to end. */
  queued: number;
  callsInFlight: CallInFlight[];
  /** Its calls that continue as background tasks. */
  tasks: { taskId: string; callId: string; name: string }[];
}

/** Whether a message was taken: not when another process drives the conversation. */
export type Submission =
  | { accepted: true; messageId: string; result: Promise<TurnResult | undefined> }
  | { accepted: false; holder: string };

const BUSY: TurnError = {
  type: "conversation_busy",
  message: "Another process is driving this conversation; try again when its turn has ended.",
};

/**
 * One conversation. Messages sent while a turn runs wait in its mailbox,
 * which is backed by the journal's inbox; different conversations run
 * concurrently.
 *
 * @example
 * ```ts ignore
 * const supervisor = await system.createConversation();
 * supervisor.subscribe((event) => console.log(event.type));
 * const result = await supervisor.send({ type: "user_message", text: "What time is it?" });
 * ```
 */
export class ConversationSupervisor {
  readonly id: string;
  readonly #deps: SupervisorDeps;
  readonly #log: ConversationLog;
  readonly #events: EventFeed;
  /** The timer telling the driving server that someone watches here. */
  #telling: ReturnType<typeof setInterval> | undefined;
  readonly #mailbox = new Mailbox((message: SupervisorMessage) => this.#receive(message));
  /** Inbox entries posted to the mailbox and not yet received. */
  readonly #posted = new Set<string>();
  /**
   * Messages being submitted here: in the inbox, or about to be, and posted
   * by their submitter, whom the turn's result must reach. A wake that sees
   * one leaves it alone, or it would run first and the submitter hear "busy".
   */
  readonly #submitting = new Set<string>();
  /** Tasks whose result has been announced with an event. */
  readonly #announced = new Set<string>();
  #resumePosted = false;
  readonly #whenIdle: (() => void)[] = [];
  #holds = 0;
  #intake: Promise<unknown> = Promise.resolve();
  #running: TurnInterpreter | undefined;
  readonly #approvals: ApprovalDesk;

  private constructor(deps: SupervisorDeps, loaded: LoadedConversation) {
    this.id = loaded.state.id;
    this.#deps = deps;
    this.#events = new EventFeed(deps.journal, this.id);
    this.#log = new ConversationLog(deps.journal, deps.node, loaded, {
      // Calls whose results cannot be recorded are stopped; the new holder or recovery settles them.
      onLost: () => this.#running?.abort(),
      watcher: this.#events,
      clock: deps.settings.clock,
    });
    this.#approvals = new ApprovalDesk(deps.journal, this.id, deps.settings.approvalTimeoutMs);
    deps.onSpawn?.(this);
  }

  /** Journals a new conversation and spawns its supervisor. */
  static async create(
    deps: SupervisorDeps,
    options: NewConversation = {},
  ): Promise<ConversationSupervisor> {
    const id = options.id ?? crypto.randomUUID();
    const created: JournalRecord = {
      type: "created",
      modelName: options.modelName ?? deps.settings.modelName,
      system: options.system ?? deps.settings.defaultSystem,
      tools: options.tools,
      ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
      ...(options.metadata ? { metadata: options.metadata } : {}),
      ...(options.thinking !== undefined ? { thinking: options.thinking } : {}),
      ...(options.effort ? { effort: options.effort } : {}),
      at: (deps.settings.clock ?? Date.now)(),
    };
    await deps.journal.create(id, created);
    return new ConversationSupervisor(deps, {
      state: applyRecord({ id } as ConversationState, created),
      seq: 0,
    });
  }

  /** Spawns the supervisor of a journaled conversation, or undefined if there is none. */
  static async load(deps: SupervisorDeps, id: string): Promise<ConversationSupervisor | undefined> {
    const loaded = await deps.journal.load(id);
    return loaded && new ConversationSupervisor(deps, loaded);
  }

  /**
   * Journals a user message in the inbox and queues it for a turn, unless
   * another process drives the conversation.
   */
  async submit(
    text: string,
    messageId: string = crypto.randomUUID(),
    content?: UserBlock[],
  ): Promise<Submission> {
    if (content) checkBlocks(content);
    this.#holds++;
    // One submission at a time, so messages reach the mailbox in the order they were sent.
    const submitted = this.#intake.then(async (): Promise<Submission> => {
      const item = {
        type: "user_message",
        messageId,
        text,
        ...(content ? { content } : {}),
      } as const;
      const atOnce = await this.#startAtOnce(item);
      if (atOnce) return { accepted: true, messageId, result: atOnce.result };
      const entry = await this.#log.enqueueHolding(item);
      if ("holder" in entry) return await this.#forward(item, entry.holder);
      return { accepted: true, messageId, result: this.#post({ type: "inbox", entry }) };
    });
    this.#intake = submitted.catch(() => {});
    this.#submitting.add(messageId);
    try {
      return await submitted;
    } finally {
      this.#submitting.delete(messageId);
      this.#release();
    }
  }

  /**
   * A message to a conversation that another server drives: where the
   * journal tells every server of the others' writes, it waits in the
   * inbox for that server (told at once), and its result is heard here
   * as that server writes it. Elsewhere the sender is told who holds it.
   */
  async #forward(item: UserMessageItem, holder: string): Promise<Submission> {
    if (!this.#deps.journal.watch) return { accepted: false, holder };
    const result = followTurn((listener) => this.subscribe(listener), item.messageId);
    await this.#deps.journal.enqueue(this.id, item);
    return { accepted: true, messageId: item.messageId, result };
  }

  /**
   * Submits a message (text, content blocks, or a {@linkcode UserMessage})
   * and resolves when its turn has ended. Rejects only for blocks that are
   * not valid (a {@linkcode ConfigError} that says which).
   */
  async send(message: string | UserBlock[] | UserMessage): Promise<TurnResult> {
    const { text, id, content } = typeof message === "string"
      ? { text: message, id: undefined, content: undefined }
      : Array.isArray(message)
      ? { text: textOfBlocks(message), id: undefined, content: message }
      : message;
    const submission = await this.submit(text, id, content);
    const result = submission.accepted ? await submission.result : undefined;
    return result ?? { status: "failed", error: BUSY, steps: 0, usage: NO_USAGE, toolCalls: [] };
  }

  /**
   * Takes up what the journal holds for this conversation: inbox items not
   * yet queued (announcing task results as they land) and, with `resume`,
   * a turn a crash left open.
   */
  async wake(resume = false): Promise<void> {
    for (const entry of await this.#deps.journal.inbox(this.id)) {
      const key = entry.id;
      if (this.#posted.has(key) || this.#isSubmitting(entry.value)) continue;
      if (entry.value.type === "task_result") await this.#announce(entry.value.taskId);
      this.#post({ type: "inbox", entry }).catch(leaveToSweep);
    }
    if (resume && !this.#resumePosted && !this.busy) {
      this.#resumePosted = true;
      this.#post({ type: "resume" }).catch(leaveToSweep);
    }
  }

  /** Takes in what other processes have journaled since this one last looked. */
  refresh(): Promise<void> {
    return this.#log.refresh();
  }

  /** Resolves once the journal writes and lease changes under way are done. */
  settled(): Promise<void> {
    return this.#log.settled();
  }

  /**
   * The events after the one with id `lastId`: from memory when it reaches
   * back that far, else replayed from the journal.
   */
  eventsAfter(lastId: number): AsyncGenerator<ConversationEvent> {
    return this.#events.eventsAfter(lastId);
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: ConversationEvent) => void): () => void {
    const unsubscribe = this.#events.subscribe(listener);
    this.#tellDriverWhileWatched();
    return () => {
      unsubscribe();
      if (this.#events.watchedHere) return;
      clearInterval(this.#telling);
      this.#telling = undefined;
    };
  }

  /**
   * Where the journal can ask (PostgreSQL), tells the server that drives
   * the conversation, now and then while anyone watches it here, so that it
   * streams its model calls (the text then reaches the watchers as written).
   */
  #tellDriverWhileWatched(): void {
    const { journal } = this.#deps;
    if (!journal.askDriver || this.#telling !== undefined) return;
    const tell = () => journal.askDriver?.(this.id, "watching").catch(() => {});
    tell();
    this.#telling = setInterval(tell, WATCHING_TTL_MS / 3);
  }

  /** Events that the server driving the conversation relayed (streamed text, progress). */
  relayed(events: ConversationEvent[]): void {
    this.#events.remote(events);
  }

  /**
   * Decides a call that awaits approval. `"decided"` once; `"unknown"` for
   * no such call; `"not_awaiting"` if it was decided already or needs none.
   */
  async decide(
    callId: string,
    decision: ApprovalDecision,
  ): Promise<"decided" | "unknown" | "not_awaiting"> {
    await this.refresh();
    const call = this.#state.calls.get(callId);
    if (!call) return "unknown";
    if (call.state !== "awaiting_approval" || call.decision) return "not_awaiting";
    return await this.#approvals.decide(callId, decision) ? "decided" : "not_awaiting";
  }

  /** Stops the running turn, if any: its tool workers are terminated. */
  cancel(): boolean {
    this.#running?.cancel();
    return this.#running !== undefined;
  }

  /**
   * Stops the running turn wherever it runs: here, or (where the journal
   * can ask) on the server that drives it. Whether a turn was running.
   */
  async cancelAnywhere(): Promise<boolean> {
    if (this.cancel()) return true;
    const { journal } = this.#deps;
    if (!journal.askDriver) return false;
    await this.refresh();
    if (!this.#state.openTurn) return false;
    await journal.askDriver(this.id, "cancel");
    return true;
  }

  /**
   * This process may have been taken for dead (its heartbeats have failed
   * for longer than the TTL): the running turn's calls stop now, so that
   * nothing runs here that another server may run again. Whether a turn ran.
   */
  giveUp(): boolean {
    this.#running?.abort();
    return this.#running !== undefined;
  }

  /** Someone watches the conversation on another server: its model calls stream for a while. */
  watchedElsewhere(): void {
    this.#events.watchedElsewhere(this.#now() + WATCHING_TTL_MS);
  }

  /** Whether this process is working on the conversation. */
  get busy(): boolean {
    return this.#holds > 0;
  }

  /** Resolves once this process has no work left on the conversation (and gave its lease back). */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#whenIdle.push(resolve));
  }

  /** Whether nothing here needs the conversation in memory: no work, and no one listening. */
  get idle(): boolean {
    return !this.busy && !this.#events.watched;
  }

  /** The model name this conversation sends to the API. */
  get modelName(): string {
    return this.#state.modelName;
  }

  /** Who answers its model calls: "anthropic", or "offline" for the built-in stand-in. */
  get modelProvider(): "anthropic" | "offline" {
    return this.#deps.settings.model.provider;
  }

  /** The tools this conversation may call. */
  get toolNames(): string[] {
    return this.#deps.settings.catalog.forModel(this.#state.tools).map((tool) => tool.name);
  }

  /**
   * The whole history in Messages API format, rebuilt from the journal:
   * compactions change only what the model is sent, never this.
   */
  get history(): Anthropic.MessageParam[] {
    return fullHistoryOf(this.#state);
  }

  /** What its creator attached to it for its tools; `{}` when nothing. */
  get metadata(): Record<string, unknown> {
    return this.#state.metadata ?? {};
  }

  /** Tokens of every model call of the conversation so far. */
  get usage(): TokenUsage {
    return this.#state.usage;
  }

  /** Whether a turn runs, its calls in flight, its queued messages and running tasks. */
  get status(): ConversationStatus {
    return {
      // Running here, or (as last read from the journal) on another server.
      state: this.#running || this.#state.openTurn ? "running" : "idle",
      queued: this.#mailbox.waiting,
      callsInFlight: this.#events.callsInFlight,
      tasks: [...this.#state.calls.values()]
        .filter((call) => call.taskId && call.state === "running")
        .map(({ taskId, callId, name }) => ({ taskId: taskId!, callId, name })),
    };
  }

  get #state(): ConversationState {
    return this.#log.state;
  }

  #isSubmitting(item: InboxItem): boolean {
    return item.type === "user_message" && this.#submitting.has(item.messageId);
  }

  #post(message: SupervisorMessage): Promise<TurnResult | undefined> {
    this.#holds++;
    if (message.type === "inbox") this.#posted.add(message.entry.id);
    return this.#mailbox.post(message);
  }

  /**
   * A message to a conversation idle here goes straight to the mailbox, to
   * start its turn in the commit that accepts it. Resolves with the turn's
   * result to come, or undefined if the turn could not start that way (work
   * here, or another process holds the conversation or wrote to it).
   */
  async #startAtOnce(
    item: UserMessageItem,
  ): Promise<{ result: Promise<TurnResult | undefined> } | undefined> {
    if (this.#holds > 1 || this.#log.leaseHeld || this.#log.stale) return undefined;
    const started = Promise.withResolvers<boolean>();
    const result = this.#post({ type: "start", item, started: started.resolve });
    return await started.promise ? { result } : undefined;
  }

  async #receive(message: SupervisorMessage): Promise<TurnResult | undefined> {
    // Cleared whatever happens next, so that a later sweep can try again.
    if (message.type === "resume") this.#resumePosted = false;
    try {
      if (message.type === "start") return await this.#startTurnTakingLease(message);
      if (!(await this.#log.acquire()).ok) return undefined; // the holder's sweep takes it up
      await this.refresh();
      if (message.type === "resume") return this.#state.openTurn ? await this.#resume() : undefined;
      if (this.#state.openTurn) await this.#resumeBeforeTurn();
      const cause = await this.#causeOf(message.entry.value);
      const records: JournalRecord[] = [
        { type: "turn_started", turn: this.#state.turns + 1, cause, at: this.#now() },
      ];
      if (cause.type === "task_result" && this.#state.calls.has(cause.callId)) {
        records.push({ type: "call", callId: cause.callId, state: cause.state });
      }
      await this.#log.write(records, { consume: message.entry });
      return await this.#drive("proceed");
    } catch (error) {
      if (error instanceof LeaseLost) return undefined;
      throw error;
    } finally {
      if (message.type === "inbox") this.#posted.delete(message.entry.id);
      // Given back before the reply: whoever hears "done" may go on in another process.
      await this.#release();
    }
  }

  /**
   * Journals the turn's start and takes the free lease in one commit, while
   * the turn's first request goes (its answer is taken once the start is
   * durable). Says through `started` whether it could; a turn that could not
   * start never happened: its message goes through the inbox, which says
   * what failed, and its request is abandoned.
   */
  async #startTurnTakingLease(
    { item, started }: Extract<SupervisorMessage, { type: "start" }>,
  ): Promise<TurnResult | undefined> {
    const begun = await this.#log.startTurnTakingLease(item).catch(() => undefined);
    if (!begun) {
      started(false);
      return undefined;
    }
    const durable = begun.durable.then(() => true, () => false);
    durable.then(started);
    try {
      return await this.#drive("proceed", begun.durable);
    } catch (error) {
      if (await durable) throw error;
      return undefined;
    }
  }

  async #causeOf(item: InboxItem): Promise<TurnCause> {
    if (item.type === "user_message") return item;
    await this.#announce(item.taskId);
    this.#announced.delete(item.taskId); // its result is taken into a turn now
    const found = await this.#deps.journal.task(item.taskId);
    if (!found) throw new Error(`Task ${item.taskId} is in the inbox but not in the journal.`);
    const { taskId, callId, name, state } = found.task;
    return { type: "task_result", taskId, callId, name, state, content: found.result ?? "" };
  }

  async #announce(taskId: string): Promise<void> {
    if (this.#announced.has(taskId)) return;
    this.#announced.add(taskId);
    const found = await this.#deps.journal.task(taskId);
    if (!found) return;
    const { callId, name, state } = found.task;
    this.#emit({
      type: "task_finished",
      taskId,
      callId,
      name,
      status: state,
      content: found.result ?? "",
    });
  }

  /** Finishes the open turn that a message's own turn must follow; its end keeps the lease. */
  async #resumeBeforeTurn(): Promise<void> {
    this.#holds++;
    try {
      await this.#resume();
    } finally {
      this.#holds--;
    }
  }

  /** Takes up the turn a crash left open: the same turn, from where its journal stands. */
  #resume(): Promise<TurnResult> {
    return this.#drive("resume");
  }

  /** Runs the open turn until it ends (`begun`: its start, on its way to the journal). */
  async #drive(first: "proceed" | "resume", begun?: Promise<void>): Promise<TurnResult> {
    const turn = this.#running = new TurnInterpreter({
      id: this.id,
      settings: this.#deps.settings,
      log: this.#log,
      events: this.#events,
      approvals: this.#approvals,
      tasks: this.#deps.tasks,
      toolNames: this.toolNames,
      isLastWork: () => this.#holds === 1,
      recordCalls: (updates) => this.#recordCalls(updates),
    });
    try {
      return await turn.run(first, begun);
    } finally {
      this.#running = undefined;
    }
  }

  async #recordCalls(updates: CallUpdate[]): Promise<void> {
    try {
      // Timed by the log as it writes them, with the records they go with.
      await this.#log.write(updates.map((update) => ({ type: "call", ...update })));
    } catch (error) {
      if (error instanceof LeaseLost) await this.#handOver(updates);
      throw error;
    }
  }

  /**
   * Results this process can no longer journal, because another process
   * took the conversation over, reach the model through that process as
   * task results: what a tool returned is never dropped.
   */
  async #handOver(updates: CallUpdate[]): Promise<void> {
    for (const { callId, state, reported } of updates) {
      const name = this.#state.calls.get(callId)?.name;
      if (!reported || !name || state === "running" || state === "cancelled") continue;
      const taskId = `task_${crypto.randomUUID()}`;
      await this.#deps.tasks.start({
        taskId,
        conversationId: this.id,
        callId,
        name,
        reason: "taken_over",
      });
      await this.#deps.tasks.finish(taskId, state, reported.content);
    }
  }

  /** The lease is given back as soon as this process has nothing left to do here. */
  #release(): Promise<unknown> {
    if (--this.#holds > 0) return Promise.resolve();
    return this.#log.release(() => this.busy).finally(() => {
      if (this.busy) return;
      this.#whenIdle.forEach((resolve) => resolve());
      this.#whenIdle.length = 0;
    });
  }

  #now(): number {
    return (this.#deps.settings.clock ?? Date.now)();
  }

  #emit(event: ConversationEventInit): void {
    this.#events.emit(event, this.#log.seq);
  }
}

/**
 * Work taken up by a sweep has no one waiting for it: if it fails (the
 * journal is unavailable), it stays in the journal and the next sweep
 * tries again.
 */
function leaveToSweep(): void {}

/** Throws a {@linkcode ConfigError} saying what is wrong with a message's blocks, if anything. */
function checkBlocks(content: UserBlock[]): void {
  const checked = userBlocksSchema.safeParse(content);
  if (checked.success) return;
  const problems = checked.error.issues.map((issue) =>
    `${["content", ...issue.path].join(".")}: ${issue.message}`
  );
  throw new ConfigError(`The message's content is not valid: ${problems.join("; ")}.`);
}
