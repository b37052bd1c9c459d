/**
 * The browser tests' own dependencies, pinned here with their own lock
 * (`tests/browser/deno.lock`), so that `deno task run` on a fresh machine
 * never downloads them: Deno fetches every package `deno.json` maps or
 * `deno.lock` holds.
 *
 * @module
 */
export { type Browser, chromium, type Page } from "npm:playwright-core@1.65.1";
