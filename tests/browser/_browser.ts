/**
 * A real headless Chromium (Debian's, at /usr/bin/chromium or CHROMIUM_PATH)
 * driven by playwright-core, for tests of the web page.
 *
 * @module
 */
import { type Browser, chromium } from "./_deps.ts";

/** Where Chromium is; `.ci/run` installs Debian's package when it is missing. */
export const CHROMIUM_PATH = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Whether Chromium is here: without it the page's tests are skipped (CI always has it). */
export const HAS_CHROMIUM: boolean = (() => {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
})();

/** Launches Chromium with a fresh profile and no network beyond what a page asks for. */
export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}
