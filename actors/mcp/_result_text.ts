/**
 * An MCP tool's result as the text of a `tool_result`.
 *
 * @module
 */
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/sdk/types.js";
import { decodedBytes, isImageType, type ToolResultBlock } from "../../src/tool_result_blocks.ts";

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
        return `[${block.type} ${block.mimeType}, ${decodedBytes(block.data)} bytes]`;
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

/**
 * The result as content blocks the model can see, when it holds images
 * (of a type the API takes) or PDF resources; undefined when it is text
 * alone. Other blocks become their line of {@linkcode resultText}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resultBlocks } from "./_result_text.ts";
 * assertEquals(resultBlocks({ content: [{ type: "image", data: "AAAA", mimeType: "image/png" }] }), [
 *   { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
 * ]);
 * ```
 */
export function resultBlocks(result: CallToolResult): ToolResultBlock[] | undefined {
  const blocks: ContentBlock[] = result.content ?? [];
  const converted = blocks.map((block): ToolResultBlock => {
    if (block.type === "image" && isImageType(block.mimeType)) {
      return {
        type: "image",
        source: { type: "base64", media_type: block.mimeType, data: block.data },
      };
    }
    if (
      block.type === "resource" && "blob" in block.resource &&
      block.resource.mimeType === "application/pdf"
    ) {
      const data = String(block.resource.blob);
      return { type: "document", source: { type: "base64", media_type: "application/pdf", data } };
    }
    return { type: "text", text: resultText({ content: [block] }) || " " };
  });
  return converted.some((block) => block.type !== "text") ? converted : undefined;
}
