/**
 * The benchmark's own dependencies, pinned here and not in deno.json: Deno
 * downloads every package deno.json maps, and `deno task run` on a fresh
 * machine must not fetch what only the benchmark uses.
 *
 * @module
 */
export { createAnthropic } from "npm:@ai-sdk/anthropic@4.0.105";
export { generateText, jsonSchema, type ModelMessage, stepCountIs, tool } from "npm:ai@7.0.173";
export { default as autocannon } from "npm:autocannon@9.0.0";
