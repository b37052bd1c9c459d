/**
 * Tool results that are more than text: images and documents, as Messages
 * API content blocks. A tool returns them as an array of blocks, or as
 * `{ content: [...] }` ({@linkcode toolContent} builds either); anything
 * else is data, sent as JSON text. Loaded in every tool worker: no imports
 * but types.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";

/** A block of a tool's result: text, an image or a document. */
export type ToolResultBlock =
  | Anthropic.TextBlockParam
  | Anthropic.ImageBlockParam
  | Anthropic.DocumentBlockParam;

/** The image types the Messages API takes. */
export const IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;

/** An image type the Messages API takes. */
export type ImageType = typeof IMAGE_TYPES[number];

/** Whether `type` is an image type the Messages API takes. */
export function isImageType(type: unknown): type is ImageType {
  return (IMAGE_TYPES as readonly unknown[]).includes(type);
}

/**
 * The bytes that base64 `data` decodes to.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodedBytes } from "./tool_result_blocks.ts";
 * assertEquals(decodedBytes("Zm9vYg=="), 4);
 * ```
 */
export function decodedBytes(data: string): number {
  return Math.floor(data.length * 3 / 4) - (data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0);
}

/**
 * A tool result of content blocks, as a tool returns it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resultBlocksOf, toolContent } from "./tool_result_blocks.ts";
 * const result = toolContent({ type: "text", text: "The chart:" }, {
 *   type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
 * });
 * assertEquals(resultBlocksOf(result)?.length, 2);
 * ```
 */
export function toolContent(...blocks: ToolResultBlock[]): { content: ToolResultBlock[] } {
  return { content: blocks };
}

/**
 * The blocks a tool's return value stands for: an array of valid blocks,
 * or `{ content }` holding one. Undefined for anything else, which is data.
 */
export function resultBlocksOf(value: unknown): ToolResultBlock[] | undefined {
  const list = Array.isArray(value)
    ? value
    : isRecord(value) && Object.keys(value).length === 1 && Array.isArray(value.content)
    ? value.content
    : undefined;
  if (!list || list.length === 0 || !list.every(isResultBlock)) return undefined;
  // Images and documents only: an array of text blocks alone is data like any other.
  return list.some((block) => block.type !== "text") ? list : undefined;
}

/** The bytes a result's blocks send: their text and encoded data. */
export function blocksBytes(blocks: ToolResultBlock[]): number {
  return blocks.reduce((sum, block) => {
    if (block.type === "text") return sum + block.text.length;
    const { source } = block;
    return sum + ("data" in source ? source.data.length : "url" in source ? source.url.length : 0);
  }, 0);
}

/**
 * A result's blocks as a person reads them in events and logs: texts as
 * they are, each image and document named with its size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeBlocks } from "./tool_result_blocks.ts";
 * assertEquals(
 *   describeBlocks([{ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } }]),
 *   "[image image/png, 3 bytes]",
 * );
 * ```
 */
export function describeBlocks(blocks: ToolResultBlock[]): string {
  return blocks.map((block) => {
    if (block.type === "text") return block.text;
    const { source } = block;
    if (source.type === "url") return `[${block.type} ${source.url}]`;
    if (!("data" in source)) return `[${block.type}]`;
    const bytes = source.type === "base64" ? decodedBytes(source.data) : source.data.length;
    return `[${block.type} ${source.media_type}, ${bytes} bytes]`;
  }).join("\n");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isResultBlock(block: unknown): block is ToolResultBlock {
  if (!isRecord(block)) return false;
  if (block.type === "text") return typeof block.text === "string";
  const source = block.source;
  if (!isRecord(source)) return false;
  if (source.type === "url") {
    return typeof source.url === "string" && source.url.startsWith("https://");
  }
  if (block.type === "image") {
    return source.type === "base64" && isImageType(source.media_type) &&
      typeof source.data === "string";
  }
  if (block.type !== "document") return false;
  return typeof source.data === "string" &&
    ((source.type === "base64" && source.media_type === "application/pdf") ||
      (source.type === "text" && source.media_type === "text/plain"));
}
