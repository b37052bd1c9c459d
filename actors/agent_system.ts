/**
 * The actor system: it knows which conversations exist (in the journal, and
 * which of them this process has spawned supervisors for), keeps this
 * process's heartbeat, and takes up the work a crash left behind.
 *
 * @module
 */
import type { Model } from "../src/model/model.ts";
import type { ToolCatalog } from "../src/tool_catalog.ts";
import type { Journal } from "../src/journal/journal.ts";
import { ConfigError } from "../src/config_error.ts";
import {
  ConversationSupervisor,
  type NewConversation,
  type SupervisorDeps,
} from "./supervisor/conversation_supervisor.ts";
import { TaskBoard } from "./task_board.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What every conversation of a system shares. */
export interface RuntimeSettings {
  model: Model;
  /** Default model name sent to the API. */
  modelName: string;
  catalog: ToolCatalog;
  defaultTimeoutMs: number;
  /** How long a tool call may hold up its turn before it continues as a background task. */
  turnLimitMs: number;
  maxSteps: number;
  maxTokens: number;
}

/** How the system keeps its journal. */
export interface SystemOptions {
  /** The journal; the system closes it when it stops. */
  journal: Journal;
  /** How long this process counts as alive after each heartbeat. Default 10 s. */
  nodeTtlMs?: number;
  /** Take up every conversation a crash left unfinished, not only this process's own. Default true. */
  recoverAll?: boolean;
}

/**
 * Creates and finds conversation supervisors.
 *
 * @example
 * ```ts ignore
 * await using system = await AgentSystem.start(settings, { journal: await Journal.open(":memory:") });
 * const conversation = await system.createConversation({ system: "Be brief." });
 * await conversation.send({ type: "user_message", text: "Hi" });
 * ```
 */
export class AgentSystem implements AsyncDisposable {
  readonly settings: RuntimeSettings;
  readonly tasks: TaskBoard;
  readonly #deps: SupervisorDeps;
  readonly #conversations = new Map<string, Promise<ConversationSupervisor | undefined>>();
  readonly #options: Required<SystemOptions>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<void> = Promise.resolve();

  private constructor(settings: RuntimeSettings, options: SystemOptions) {
    this.settings = settings;
    this.#options = { nodeTtlMs: 10_000, recoverAll: true, ...options };
    const node = crypto.randomUUID();
    this.tasks = new TaskBoard(options.journal, node, (id) => void this.#wake(id, false));
    this.#deps = { settings, journal: options.journal, tasks: this.tasks, node };
  }

  /** Starts a system: its heartbeat, and a first sweep for work a crash left behind. */
  static async start(settings: RuntimeSettings, options: SystemOptions): Promise<AgentSystem> {
    const system = new AgentSystem(settings, options);
    await system.#heartbeat();
    await system.sweep();
    const every = Math.min(1_000, system.#options.nodeTtlMs / 3);
    system.#timer = setInterval(() => {
      system.#sweeping = system.#sweeping.then(() => system.#heartbeat()).then(() => system.sweep())
        .catch((error) => console.error("Journal sweep failed:", error));
    }, every);
    return system;
  }

  /** Spawns a supervisor for a new conversation. Throws a ConfigError for unknown tool names. */
  async createConversation(options: NewConversation = {}): Promise<ConversationSupervisor> {
    const { catalog } = this.settings;
    const unknown = (options.tools ?? []).filter((name) => !catalog.get(name));
    if (unknown.length > 0) {
      throw new ConfigError(
        `Unknown tools: ${unknown.join(", ")}. Available tools: ${catalog.names.join(", ")}.`,
      );
    }
    const supervisor = await ConversationSupervisor.create(this.#deps, options);
    this.#conversations.set(supervisor.id, Promise.resolve(supervisor));
    return supervisor;
  }

  /** The conversation with this id, spawning its supervisor from the journal if need be. */
  get(id: string): Promise<ConversationSupervisor | undefined> {
    // Ids are UUIDs; anything else is not looked up (and never reaches KV's key-size limit).
    if (!UUID.test(id)) return Promise.resolve(undefined);
    let supervisor = this.#conversations.get(id);
    if (!supervisor) {
      supervisor = ConversationSupervisor.load(this.#deps, id);
      this.#conversations.set(id, supervisor);
      // Only found conversations stay cached: one may be created elsewhere later.
      const forget = () => this.#conversations.delete(id);
      supervisor.then((found) => found ?? forget(), forget);
    }
    return supervisor;
  }

  /**
   * Takes up unfinished work: task results waiting in inboxes, turns a
   * crash left open, and tasks whose process is gone.
   */
  async sweep(): Promise<void> {
    await this.tasks.sweep();
    const { journal, recoverAll } = this.#options;
    const open = await journal.unfinished();
    for (const id of open) {
      if (recoverAll || this.#conversations.has(id)) await this.#wake(id, true);
    }
  }

  async #wake(id: string, resume: boolean): Promise<void> {
    await (await this.get(id))?.wake(resume);
  }

  #heartbeat(): Promise<void> {
    return this.#options.journal.heartbeat(this.#deps.node, this.#options.nodeTtlMs);
  }

  /** Stops the heartbeat and closes the journal. Running turns should have ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
    for (const supervisor of this.#conversations.values()) await (await supervisor)?.settled();
    this.#options.journal.close();
  }
}
