/**
 * What a person may send beside text: images and documents, as Messages
 * API content blocks, checked at the boundary (media types the API takes,
 * sizes within its limits) with errors that say what to fix.
 *
 * @module
 */
import { z } from "zod";
import { extname } from "node:path";
import { encodeBase64 } from "@std/encoding/base64";
import { ConfigError } from "./config_error.ts";
import {
  decodedBytes,
  IMAGE_TYPES,
  type ImageType,
  type ToolResultBlock,
} from "./tool_result_blocks.ts";

/** A block of a person's message: text, an image or a document, as a tool's result may hold. */
export type UserBlock = ToolResultBlock;

/** The API's limit on one image, decoded. */
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
/** What one message's attachments may add up to, decoded (the API refuses requests over 32 MB). */
export const MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024;

const MB = (bytes: number) => `${bytes / 1024 / 1024} MiB`;

const base64 = z.string().min(1).regex(/^[A-Za-z0-9+/]+={0,2}$/, "must be base64");
const url = z.url({ protocol: /^https$/, error: "must be an https URL" });

const imageBlock = z.strictObject({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("base64"),
      media_type: z.enum(IMAGE_TYPES, { error: `must be one of ${IMAGE_TYPES.join(", ")}` }),
      data: base64.refine(
        (data) => decodedBytes(data) <= MAX_IMAGE_BYTES,
        `an image may be at most ${MB(MAX_IMAGE_BYTES)}`,
      ),
    }),
    z.strictObject({ type: z.literal("url"), url }),
  ]),
});

const documentBlock = z.strictObject({
  type: z.literal("document"),
  title: z.string().max(500).optional(),
  source: z.discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("base64"),
      media_type: z.literal("application/pdf", { error: "must be application/pdf" }),
      data: base64,
    }),
    z.strictObject({
      type: z.literal("text"),
      media_type: z.literal("text/plain"),
      data: z.string().min(1),
    }),
    z.strictObject({ type: z.literal("url"), url }),
  ]),
});

const textBlock = z.strictObject({ type: z.literal("text"), text: z.string().min(1) });

/** A person's message as content blocks: at least one, the attachments within the limits. */
export const userBlocksSchema = z.array(
  z.discriminatedUnion("type", [textBlock, imageBlock, documentBlock], {
    error: 'each block is {type: "text" | "image" | "document", …}',
  }),
).min(1, "must hold at least one block").max(100, "must hold at most 100 blocks").refine(
  (blocks) => attachedBytes(blocks as UserBlock[]) <= MAX_ATTACHMENT_BYTES,
  `a message's attachments may add up to at most ${MB(MAX_ATTACHMENT_BYTES)}`,
);

function attachedBytes(blocks: UserBlock[]): number {
  return blocks.reduce((sum, block) => {
    const source = block.type === "text" ? undefined : block.source;
    return sum + (source?.type === "base64" ? decodedBytes(source.data) : 0);
  }, 0);
}

/**
 * The text a message's blocks stand for where one line is shown (events,
 * listings): their text, with each attachment named.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { textOfBlocks } from "./user_content.ts";
 * assertEquals(textOfBlocks([{ type: "text", text: "What is this?" }, { type: "image", source: { type: "url", url: "https://x.test/a.png" } }]), "What is this? [image]");
 * ```
 */
export function textOfBlocks(blocks: UserBlock[]): string {
  return blocks.map((block) => block.type === "text" ? block.text : `[${block.type}]`).join(" ");
}

/** What each file extension `--attach` takes becomes. */
const ATTACHABLE: Record<string, { kind: "image" | "pdf" | "text"; mediaType: string }> = {
  ".png": { kind: "image", mediaType: "image/png" },
  ".jpg": { kind: "image", mediaType: "image/jpeg" },
  ".jpeg": { kind: "image", mediaType: "image/jpeg" },
  ".gif": { kind: "image", mediaType: "image/gif" },
  ".webp": { kind: "image", mediaType: "image/webp" },
  ".pdf": { kind: "pdf", mediaType: "application/pdf" },
  ".txt": { kind: "text", mediaType: "text/plain" },
  ".md": { kind: "text", mediaType: "text/plain" },
};

/**
 * The file at `path` as a block of a message (`--attach`): an image, a PDF
 * or a text document, by its extension; a {@linkcode ConfigError} saying
 * what is wrong otherwise.
 */
export async function attachmentOf(path: string): Promise<UserBlock> {
  const kind = ATTACHABLE[extname(path).toLowerCase()];
  if (!kind) {
    throw new ConfigError(
      `--attach takes images, PDFs and text files (${
        Object.keys(ATTACHABLE).join(", ")
      }), not ${path}.`,
    );
  }
  const bytes = await Deno.readFile(path).catch((error) => {
    throw new ConfigError(`--attach cannot read ${path}: ${error.message}`);
  });
  const limit = kind.kind === "image" ? MAX_IMAGE_BYTES : MAX_ATTACHMENT_BYTES;
  if (bytes.length > limit) {
    throw new ConfigError(
      `--attach ${path}: ${bytes.length} bytes, more than the ${MB(limit)} allowed.`,
    );
  }
  const title = path.split("/").at(-1);
  if (kind.kind === "text") {
    const data = new TextDecoder().decode(bytes);
    return { type: "document", title, source: { type: "text", media_type: "text/plain", data } };
  }
  const data: string = encodeBase64(bytes);
  return kind.kind === "image"
    ? {
      type: "image",
      source: { type: "base64", media_type: kind.mediaType as ImageType, data },
    }
    : { type: "document", title, source: { type: "base64", media_type: "application/pdf", data } };
}
