/**
 * A built-in stand-in for Claude, so that `deno task run` does its job on a
 * machine without an API key: it asks for real tools, which run in real
 * workers in parallel, then reports what they returned.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { Model, ModelCallOptions, ModelRequest } from "./model.ts";

/**
 * A scripted model: to a user's text it answers with parallel calls of the
 * built-in `current_time`, `list_files` and `run_javascript` (those that are
 * loaded); to tool results it answers with a summary of them.
 *
 * @example
 * ```ts
 * import { OfflineModel } from "./offline_model.ts";
 * const message = await new OfflineModel().createMessage({
 *   model: "offline",
 *   maxTokens: 1024,
 *   messages: [{ role: "user", content: "hi" }],
 *   tools: [],
 * });
 * console.log(message.stop_reason); // "end_turn": no tools were offered
 * ```
 */
export class OfflineModel implements Model {
  readonly label = "offline demo model";
  #calls = 0;

  createMessage(request: ModelRequest, options: ModelCallOptions = {}): Promise<Anthropic.Message> {
    const last = request.messages.at(-1);
    const content = typeof last?.content === "string" ? [] : last?.content ?? [];
    const results = content.filter((block) => block.type === "tool_result");
    const prompt =
      content.filter((block) => block.type === "text").map((block) => block.text).join("\n") ||
      (typeof last?.content === "string" ? last.content : "");
    const blocks = results.length > 0
      ? [this.#text(summarise(results, request.messages), options)]
      : this.#planCalls(prompt, request.tools, options);
    const stopReason = blocks.some((block) => block.type === "tool_use") ? "tool_use" : "end_turn";
    return Promise.resolve(message(blocks, stopReason, request.model));
  }

  #planCalls(
    prompt: string,
    tools: Anthropic.ToolUnion[],
    options: ModelCallOptions,
  ): Anthropic.ContentBlock[] {
    const offered = new Set(tools.flatMap((tool) => "name" in tool ? [tool.name] : []));
    const plan: [string, Record<string, unknown>][] = [
      ["current_time", {}],
      ["list_files", { path: "." }],
      ["run_javascript", {
        code: `const text = ${JSON.stringify(prompt)};\n` +
          "return { words: text.split(/\\s+/).filter(Boolean).length, characters: text.length };",
      }],
    ];
    const calls = plan.filter(([name]) => offered.has(name));
    if (calls.length === 0) {
      return [
        this.#text(
          "I am the offline demo model and no built-in tool is loaded, so there is nothing to run.",
          options,
        ),
      ];
    }
    return [
      this.#text(`I will run ${calls.length} tools at once, each in its own worker.`, options),
      ...calls.map(([name, input]): Anthropic.ToolUseBlock => ({
        type: "tool_use",
        id: `toolu_offline_${++this.#calls}`,
        name,
        input,
      } as Anthropic.ToolUseBlock)),
    ];
  }

  #text(text: string, options: ModelCallOptions): Anthropic.TextBlock {
    for (const word of text.split(/(?<= )/)) options.onText?.(word);
    return { type: "text", text, citations: null };
  }
}

function summarise(
  results: Anthropic.ToolResultBlockParam[],
  history: Anthropic.MessageParam[],
): string {
  const names = new Map<string, string>();
  for (const entry of history) {
    if (entry.role !== "assistant" || typeof entry.content === "string") continue;
    for (const block of entry.content) {
      if (block.type === "tool_use") names.set(block.id, block.name);
    }
  }
  const lines = results.map((result) => {
    const text = typeof result.content === "string"
      ? result.content
      : (result.content ?? []).map((part) => part.type === "text" ? part.text : `[${part.type}]`)
        .join(" ");
    const short = text.length > 160 ? `${text.slice(0, 160)}…` : text;
    return `- ${names.get(result.tool_use_id) ?? result.tool_use_id}${
      result.is_error ? " (error)" : ""
    }: ${short}`;
  });
  return `The tools returned:\n${lines.join("\n")}\n\n` +
    "(This was the offline demo model. Set ANTHROPIC_API_KEY to talk to Claude.)";
}

function message(
  content: Anthropic.ContentBlock[],
  stopReason: Anthropic.StopReason,
  model: string,
): Anthropic.Message {
  return {
    id: `msg_offline_${crypto.randomUUID()}`,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  } as Anthropic.Message;
}
