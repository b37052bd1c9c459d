/**
 * An MCP tool's result as the text of a `tool_result`.
 *
 * @module
 */
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/sdk/types.js";

/**
 * The result's text blocks in order; other blocks are described in a line
 * each (their data is not text the model can read here), and structured
 * content stands in for a result with no blocks.
 *
 * @example
 * ```ts
 * import { resultText } from "./_result_text.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(resultText({ content: [{ type: "text", text: "42" }] }), "42");
 * assertEquals(resultText({ content: [], structuredContent: { sum: 42 } }), '{"sum":42}');
 * ```
 */
export function resultText(result: CallToolResult): string {
  const blocks: ContentBlock[] = result.content ?? [];
  const lines = blocks.map((block) => {
    switch (block.type) {
      case "text":
        return block.text;
      case "image":
      case "audio":
        return `[${block.type} ${block.mimeType}, ${Math.floor(block.data.length * 3 / 4)} bytes]`;
      case "resource_link":
        return `[resource ${block.uri}${block.name ? ` "${block.name}"` : ""}]`;
      case "resource":
        return "text" in block.resource
          ? String(block.resource.text)
          : `[resource ${block.resource.uri}, binary]`;
      default:
        return `[${(block as { type: string }).type} block]`;
    }
  });
  if (lines.length === 0 && result.structuredContent !== undefined) {
    return JSON.stringify(result.structuredContent);
  }
  return lines.join("\n");
}
