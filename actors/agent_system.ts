/**
 * The actor system: it knows which conversations exist (in the journal, and
 * which of them this process has spawned supervisors for), keeps this
 * process's heartbeat, and takes up the work a crash left behind.
 *
 * @module
 */
import { traceConversation, tracingEnabled } from "../src/tracing.ts";
import type {
  ConversationSummary,
  Journal,
  JournalChange,
  JournalHealth,
} from "../src/journal/journal.ts";
import { ConfigError } from "../src/config_error.ts";
import { EFFORTS, thinkingProblem } from "../src/model/thinking.ts";
import { errorMessage } from "../src/_error_message.ts";
import { deadline } from "@std/async/deadline";
import {
  ConversationSupervisor,
  type NewConversation,
  type SupervisorDeps,
} from "./supervisor/conversation_supervisor.ts";
import { TaskBoard } from "./task_board.ts";
import type { HeartbeatOrder, HeartbeatReport } from "./_heartbeat_messages.ts";
import type { RuntimeSettings } from "./runtime_settings.ts";

export type { RuntimeSettings };

/** The most a conversation's metadata may hold, as JSON. */
export const MAX_METADATA_BYTES = 4096;

/** How often chunks that writes left uncommitted are looked for. */
const CHUNK_SWEEP_EVERY_MS = 5 * 60_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How the system keeps its journal. */
export interface SystemOptions {
  /** The journal; the system closes it when it stops. */
  journal: Journal;
  /** How long this process counts as alive after each heartbeat. Default 10 s. */
  nodeTtlMs?: number;
  /** Take up every conversation a crash left unfinished, not only this process's own. Default true. */
  recoverAll?: boolean;
  /**
   * How many idle conversations stay loaded; beyond it the least recently
   * used idle ones are dropped from memory (they reload from the journal).
   * Default 500.
   */
  maxLoaded?: number;
  /**
   * A conversation used this recently is never evicted: a request may be
   * about to use it. Default 30 s.
   */
  evictAfterMs?: number;
}

/**
 * Creates and finds conversation supervisors.
 *
 * @example
 * ```ts ignore
 * await using system = await AgentSystem.start(settings, { journal: await KvJournal.open(":memory:") });
 * const conversation = await system.createConversation({ system: "Be brief." });
 * await conversation.send({ type: "user_message", text: "Hi" });
 * ```
 */
export class AgentSystem implements AsyncDisposable {
  readonly settings: RuntimeSettings;
  readonly tasks: TaskBoard;
  readonly #deps: SupervisorDeps;
  /** Loaded conversations, least recently used first. */
  readonly #conversations = new Map<string, Loaded>();
  readonly #options: Required<SystemOptions>;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #sweeping: Promise<void> | undefined;
  #beating: Promise<void> | undefined;
  #sweepingChunks: Promise<void> | undefined;
  /** The problem each background job last reported, so that a lasting one is logged once. */
  readonly #problems = new Map<string, string>();
  #draining = false;
  #heart: Worker | undefined;
  /** Since when heartbeats fail (epoch ms), and whether running turns were given up for it. */
  #beatFailingSince: number | undefined;
  #gaveUp = false;
  /** What other servers write, heard at once where the journal tells (PostgreSQL). */
  #watching: AsyncDisposable | undefined;

  private constructor(settings: RuntimeSettings, options: SystemOptions) {
    this.settings = settings;
    this.#options = {
      journal: options.journal,
      nodeTtlMs: options.nodeTtlMs ?? 10_000,
      recoverAll: options.recoverAll ?? true,
      maxLoaded: options.maxLoaded ?? 500,
      evictAfterMs: options.evictAfterMs ?? 30_000,
    };
    const node = crypto.randomUUID();
    this.tasks = new TaskBoard(
      options.journal,
      node,
      (id) => void this.#wake(id, false),
      settings.handOffTimeoutMs,
    );
    this.#deps = {
      settings,
      journal: options.journal,
      tasks: this.tasks,
      node,
      onSpawn: tracingEnabled() ? traceConversation : undefined,
    };
  }

  /**
   * Starts a system: its heartbeat, and a sweep for work a crash left behind,
   * each on its own timer, so that a long sweep never delays a heartbeat.
   */
  static async start(settings: RuntimeSettings, options: SystemOptions): Promise<AgentSystem> {
    const system = new AgentSystem(settings, options);
    system.#watching = await options.journal.watch?.((change) => system.#heard(change));
    await system.#heartbeat();
    await system.#sweepQuietly();
    const every = Math.min(1_000, system.#options.nodeTtlMs / 3);
    system.#keepBeating(every);
    system.#timers.push(setInterval(() => system.#sweeping ??= system.#sweepQuietly(), every));
    // Chunks of writes that never committed: found at start (in the background) and every few minutes.
    const sweepChunks = () => system.#sweepingChunks ??= system.#sweepChunksQuietly();
    sweepChunks();
    system.#timers.push(setInterval(sweepChunks, CHUNK_SWEEP_EVERY_MS));
    return system;
  }

  /**
   * Beats on a thread of its own where the journal is a file other
   * processes share: the main thread's work cannot delay it, so a process
   * that is alive is never taken for dead.
   */
  #keepBeating(everyMs: number): void {
    const { journal, nodeTtlMs } = this.#options;
    if (!journal.address) {
      this.#timers.push(setInterval(() => this.#beating ??= this.#heartbeat(), everyMs));
      return;
    }
    const worker = new Worker(new URL("./heartbeat_worker.ts", import.meta.url), {
      type: "module",
      name: "heartbeat",
    });
    worker.onmessage = ({ data }: MessageEvent<HeartbeatReport>) => {
      if (data.type === "failed") this.#beatFailed(data.message);
      if (data.type === "beat") this.#beatRecovered();
    };
    const start: HeartbeatOrder = {
      type: "start",
      address: journal.address,
      node: this.#deps.node,
      ttlMs: nodeTtlMs,
      everyMs,
    };
    worker.postMessage(start);
    this.#heart = worker;
  }

  /** Stops the heartbeat and removes it: other processes may take over at once. */
  async #stopBeating(): Promise<void> {
    const worker = this.#heart;
    if (!worker) return await this.#options.journal.forget(this.#deps.node).catch(() => {});
    const stopped = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage({ type: "stop" } satisfies HeartbeatOrder);
    await stopped;
    worker.terminate();
  }

  /** The journal every conversation of this system is kept in. */
  get journal(): Journal {
    return this.#options.journal;
  }

  /** The journal's health: whether it takes writes, and if not, why. */
  get health(): JournalHealth {
    return this.#options.journal.health;
  }

  /** How many conversations are loaded in memory. */
  get loaded(): number {
    return this.#conversations.size;
  }

  /** Spawns a supervisor for a new conversation. Throws a ConfigError for unknown tool names. */
  async createConversation(options: NewConversation = {}): Promise<ConversationSupervisor> {
    const { catalog } = this.settings;
    if (options.id !== undefined && !UUID.test(options.id)) {
      throw new ConfigError(`A conversation's id must be a UUID, got "${options.id}".`);
    }
    const metadataBytes = new TextEncoder().encode(JSON.stringify(options.metadata ?? {})).length;
    if (metadataBytes > MAX_METADATA_BYTES) {
      throw new ConfigError(
        `A conversation's metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON, got ${metadataBytes}: keep ids there, not data.`,
      );
    }
    const thinking = options.thinking ?? this.settings.thinking;
    const problem = thinking === undefined
      ? undefined
      : thinkingProblem(thinking, options.maxTokens ?? this.settings.maxTokens);
    if (problem) throw new ConfigError(`thinking: ${problem}.`);
    if (options.effort !== undefined && !EFFORTS.includes(options.effort)) {
      throw new ConfigError(
        `effort: must be one of ${EFFORTS.join(", ")}, got "${options.effort}".`,
      );
    }
    const serverTools: string[] = (this.settings.serverTools ?? []).map((tool) => tool.name);
    const unknown = (options.tools ?? []).filter((name) =>
      !catalog.get(name) && !serverTools.includes(name)
    );
    if (unknown.length > 0) {
      throw new ConfigError(
        `Unknown tools: ${unknown.join(", ")}. Available tools: ${
          [...catalog.names, ...serverTools].join(", ")
        }.`,
      );
    }
    const supervisor = await ConversationSupervisor.create(this.#deps, options);
    this.#remember(supervisor.id, Promise.resolve(supervisor));
    return supervisor;
  }

  /**
   * The newest conversations first, at most `limit`, as the journal knows
   * them (those of other processes too).
   */
  list(limit = 50): Promise<ConversationSummary[]> {
    return this.#options.journal.list(limit);
  }

  /** The conversation with this id, spawning its supervisor from the journal if need be. */
  get(id: string): Promise<ConversationSupervisor | undefined> {
    // Ids are UUIDs; anything else is not looked up (and never reaches KV's key-size limit).
    if (!UUID.test(id)) return Promise.resolve(undefined);
    const known = this.#conversations.get(id);
    if (known) return this.#remember(id, known.supervisor);
    const supervisor = ConversationSupervisor.load(this.#deps, id);
    // Only found conversations stay cached: one may be created elsewhere later.
    const forget = () => this.#conversations.delete(id);
    supervisor.then((found) => found ?? forget(), forget);
    return this.#remember(id, supervisor);
  }

  /**
   * Takes up unfinished work: task results waiting in inboxes, turns a
   * crash left open, and tasks whose process is gone. Conversations that a
   * live process drives are left to it, without loading them here.
   */
  async sweep(): Promise<void> {
    if (this.#draining) return;
    await this.#giveUpIfTakenForDead();
    await this.tasks.sweep();
    const { journal, recoverAll } = this.#options;
    for (const id of await journal.unfinished()) {
      if (!recoverAll && !this.#conversations.has(id)) continue;
      if (await journal.heldElsewhere(id, this.#deps.node)) continue;
      // The list is a moment old: work another process has just finished is not taken up.
      if (!this.#conversations.has(id) && !await journal.hasWork(id)) continue;
      await this.#wake(id, true);
    }
    await this.#evictIdle();
  }

  async #sweepQuietly(): Promise<void> {
    try {
      await this.sweep();
      this.#report("Journal sweep");
    } catch (error) {
      this.#report("Journal sweep", error);
    } finally {
      this.#sweeping = undefined;
    }
  }

  async #sweepChunksQuietly(): Promise<void> {
    try {
      await this.#options.journal.sweepChunks();
      this.#report("Chunk sweep");
    } catch (error) {
      this.#report("Chunk sweep", error);
    } finally {
      this.#sweepingChunks = undefined;
    }
  }

  /**
   * Another server wrote to a conversation. One loaded here takes in its
   * records (its watchers see the events, its waiting senders the result)
   * or, for a new inbox item, takes it up if no one drives it (or, driving
   * it, after the running turn); driving it, it cancels the turn if asked.
   * Its watchers see the driver's events that no record stands for too.
   */
  #heard(change: JournalChange): void {
    if (this.#draining) return;
    if (change.kind === "missed") {
      // What others wrote while this process could not hear them: all it holds looks again.
      for (const conversationId of this.#conversations.keys()) {
        this.#heard({ kind: "log", conversationId });
        this.#heard({ kind: "inbox", conversationId });
      }
      return;
    }
    const loaded = this.#conversations.get(change.conversationId);
    if (!loaded) return;
    loaded.supervisor.then(async (supervisor) => {
      if (change.kind === "events") supervisor?.relayed(change.events);
      else if (change.kind === "log") await supervisor?.refresh();
      else if (change.kind === "inbox") await supervisor?.wake();
      else if (change.kind === "watching") supervisor?.watchedElsewhere();
      else supervisor?.cancel();
    }).catch((error) => this.#report("Journal watch", error));
  }

  async #wake(id: string, resume: boolean): Promise<void> {
    await (await this.get(id))?.wake(resume);
  }

  async #heartbeat(): Promise<void> {
    try {
      await this.#options.journal.heartbeat(this.#deps.node, this.#options.nodeTtlMs);
      this.#beatRecovered();
    } catch (error) {
      this.#beatFailed(error);
    } finally {
      this.#beating = undefined;
    }
  }

  #beatFailed(error: unknown): void {
    this.#report("Heartbeat", error);
    this.#beatFailingSince ??= Date.now();
  }

  #beatRecovered(): void {
    this.#report("Heartbeat");
    this.#beatFailingSince = undefined;
    this.#gaveUp = false;
  }

  /**
   * Once no heartbeat has reached the journal for longer than the TTL,
   * other servers take this one for dead and take its conversations over:
   * the calls of its running turns stop, once, so that nothing runs twice.
   * (Its late writes would be refused anyway: every append checks its lease.)
   */
  async #giveUpIfTakenForDead(): Promise<void> {
    const since = this.#beatFailingSince;
    if (since === undefined || this.#gaveUp || Date.now() - since <= this.#options.nodeTtlMs) {
      return;
    }
    this.#gaveUp = true;
    let stopped = 0;
    for (const { supervisor } of this.#conversations.values()) {
      if ((await supervisor)?.giveUp()) stopped++;
    }
    console.error(
      `No heartbeat has reached the journal for over ${this.#options.nodeTtlMs} ms: stopped the calls of ${stopped} running turn(s), which another server may take over.`,
    );
  }

  /**
   * Logs a background job's problem once, not once a second while it
   * lasts, and that it recovered (called with no error) once it has.
   */
  #report(job: string, error?: unknown): void {
    const before = this.#problems.get(job);
    if (error === undefined) {
      if (before === undefined) return;
      this.#problems.delete(job);
      return console.error(`${job} recovered.`);
    }
    const message = typeof error === "string" ? error : errorMessage(error);
    if (message === before) return;
    this.#problems.set(job, message);
    console.error(`${job} failed: ${message}`);
  }

  #remember(
    id: string,
    supervisor: Promise<ConversationSupervisor | undefined>,
  ): Promise<ConversationSupervisor | undefined> {
    this.#conversations.delete(id); // re-inserted last: most recently used
    this.#conversations.set(id, { supervisor, usedAt: Date.now() });
    return supervisor;
  }

  /** Drops the least recently used idle conversations beyond `maxLoaded`. */
  async #evictIdle(): Promise<void> {
    let excess = this.#conversations.size - this.#options.maxLoaded;
    for (const [id, { supervisor, usedAt }] of this.#conversations) {
      if (excess <= 0 || Date.now() - usedAt < this.#options.evictAfterMs) return;
      if ((await supervisor)?.idle === false) continue;
      this.#conversations.delete(id);
      excess--;
    }
  }

  /**
   * Takes up no more work and resolves once every running turn here has
   * ended, or after `ms`, whichever comes first. What is still running then
   * is left to recovery: disposing the system tells other processes at once
   * that this one is gone.
   *
   * @example
   * ```ts ignore
   * await system.drain(10_000);
   * await system[Symbol.asyncDispose]();
   * ```
   */
  async drain(ms: number): Promise<void> {
    this.#draining = true;
    const idle = Promise.all(
      [...this.#conversations.values()].map(async ({ supervisor }) =>
        (await supervisor)?.whenIdle()
      ),
    );
    await (deadline(idle, ms) as Promise<unknown>).catch(() => {}); // past `ms`: left to recovery
  }

  /** Stops the heartbeat, the tool executor and the journal. Running turns should have ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#timers.forEach(clearInterval);
    await this.#watching?.[Symbol.asyncDispose]();
    await Promise.all([this.#sweeping, this.#beating, this.#sweepingChunks]);
    // Others may take over what is left now, not a TTL from now.
    await this.#stopBeating();
    for (const { supervisor } of this.#conversations.values()) await (await supervisor)?.settled();
    await this.settings.executor[Symbol.asyncDispose]();
    await this.#options.journal[Symbol.asyncDispose]();
  }
}

interface Loaded {
  supervisor: Promise<ConversationSupervisor | undefined>;
  usedAt: number;
}
