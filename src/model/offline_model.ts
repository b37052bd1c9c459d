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
 * A scripted model. To a user's text that names calls, `call NAME {JSON
 * input}` (any number, e.g. `call pay {"amount": 50}; call sleep {"ms":
 * 3000}`; see {@linkcode namedCalls}), it answers with exactly those calls, at once, so that any loaded
 * tool (an MCP server's, one of yours, one that needs approval) can be tried
 * without a key. To other text it answers with parallel calls of the
 * built-in `current_time`, `list_files` and `run_javascript` (those that are
 * loaded). To tool results it answers with a summary of them.
 *
 * @example
 * ```ts
 * import { OfflineModel } from "./offline_model.ts";
 * import { assertEquals } from "@std/assert";
 * const message = await new OfflineModel().createMessage({
 *   model: "offline",
 *   maxTokens: 1024,
 *   messages: [{ role: "user", content: "hi" }],
 *   tools: [],
 * });
 * assertEquals(message.stop_reason, "end_turn"); // no tools were offered
 * ```
 */
export class OfflineModel implements Model {
  readonly label = "offline demo model";
  readonly provider = "offline";
  #calls = 0;

  createMessage(request: ModelRequest, options: ModelCallOptions = {}): Promise<Anthropic.Message> {
    const last = request.messages.at(-1);
    const content = typeof last?.content === "string" ? [] : last?.content ?? [];
    const results = content.filter((block) => block.type === "tool_result");
    const prompt =
      content.filter((block) => block.type === "text").map((block) => block.text).join("\n") ||
      (typeof last?.content === "string" ? last.content : "");
    // Results alone are answered; a person's text beside them (after a cancelled turn) is a new ask.
    const blocks = results.length > 0 && !prompt
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
    const named = namedCalls(prompt);
    if (named instanceof Error) return [this.#text(named.message, options)];
    if (named.length > 0) return this.#callBlocks("the calls you named", named, options);
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
    return this.#callBlocks(`${calls.length} tools`, calls, options);
  }

  #callBlocks(
    what: string,
    calls: [string, Record<string, unknown>][],
    options: ModelCallOptions,
  ): Anthropic.ContentBlock[] {
    return [
      this.#text(`I will run ${what} at once, each in its own worker.`, options),
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

/**
 * The calls a prompt names as `call NAME {JSON}`, each at the start of the
 * prompt, of a line or after a `;` (the input may be left out: `{}`), in
 * order; an Error that says how to write one that does not parse.
 *
 * @example
 * ```ts
 * import { namedCalls } from "./offline_model.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(namedCalls('call pay {"amount": 50}; call current_time'), [
 *   ["pay", { amount: 50 }],
 *   ["current_time", {}],
 * ]);
 * assertEquals(namedCalls("I will call you later"), []);
 * ```
 */
export function namedCalls(prompt: string): [string, Record<string, unknown>][] | Error {
  const calls: [string, Record<string, unknown>][] = [];
  const callAt = /(?:^|[;\n])\s*call\s+([A-Za-z0-9_-]+)\s*/g;
  for (let match = callAt.exec(prompt); match; match = callAt.exec(prompt)) {
    const start = callAt.lastIndex;
    if (prompt[start] !== "{") {
      calls.push([match[1], {}]);
      continue;
    }
    const end = _objectEnd(prompt, start);
    let input: unknown;
    try {
      input = end === undefined ? undefined : JSON.parse(prompt.slice(start, end));
    } catch { /* said below */ }
    if (!input || typeof input !== "object") {
      return new Error(
        `The input of "call ${match[1]}" is not a JSON object. Write it as call ${
          match[1]
        } {"key": "value"}.`,
      );
    }
    calls.push([match[1], input as Record<string, unknown>]);
    callAt.lastIndex = end!;
  }
  return calls;
}

/** Where the JSON object starting at `start` ends (past its closing brace), if it does. */
function _objectEnd(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "{") depth++;
    else if (char === "}" && --depth === 0) return i + 1;
  }
  return undefined;
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
