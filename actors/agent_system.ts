/**
 * The actor system: it knows which conversations exist and creates their
 * supervisors with the runtime's shared model, tools and limits.
 *
 * @module
 */
import type { Model } from "../src/model/model.ts";
import type { ToolCatalog } from "../src/tool_catalog.ts";
import { ConfigError } from "../src/config_error.ts";
import { ConversationSupervisor } from "./supervisor/conversation_supervisor.ts";

/** What every conversation of a system shares. */
export interface RuntimeSettings {
  model: Model;
  /** Default model name sent to the API. */
  modelName: string;
  catalog: ToolCatalog;
  defaultTimeoutMs: number;
  maxSteps: number;
  maxTokens: number;
}

/** What may differ per conversation. */
export interface NewConversation {
  system?: string;
  modelName?: string;
  /** A subset of the catalog's tool names. */
  tools?: string[];
}

/**
 * Creates and finds conversation supervisors.
 *
 * @example
 * ```ts ignore
 * const system = new AgentSystem({ model, modelName: "claude-sonnet-5-5", catalog, defaultTimeoutMs: 30_000, maxSteps: 20, maxTokens: 8192 });
 * const conversation = system.createConversation({ system: "Be brief." });
 * await conversation.send({ type: "user_message", text: "Hi" });
 * ```
 */
export class AgentSystem {
  readonly settings: RuntimeSettings;
  readonly #conversations = new Map<string, ConversationSupervisor>();

  constructor(settings: RuntimeSettings) {
    this.settings = settings;
  }

  /** Spawns a supervisor with an unguessable id. Throws a ConfigError for unknown tool names. */
  createConversation(options: NewConversation = {}): ConversationSupervisor {
    const { catalog } = this.settings;
    const unknown = (options.tools ?? []).filter((name) => !catalog.get(name));
    if (unknown.length > 0) {
      throw new ConfigError(
        `Unknown tools: ${unknown.join(", ")}. Available tools: ${catalog.names.join(", ")}.`,
      );
    }
    const supervisor = new ConversationSupervisor({
      ...this.settings,
      id: crypto.randomUUID(),
      modelName: options.modelName ?? this.settings.modelName,
      system: options.system,
      tools: options.tools,
    });
    this.#conversations.set(supervisor.id, supervisor);
    return supervisor;
  }

  /** The conversation with this id, if it exists. */
  get(id: string): ConversationSupervisor | undefined {
    return this.#conversations.get(id);
  }
}
