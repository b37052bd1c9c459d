import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { Page } from "./_deps.ts";
import type Anthropic from "@anthropic-ai/sdk";
import { type FakeMessagesApi, startFakeMessagesApi } from "../support/fake_messages_api.ts";
import { startTestServer } from "../support/test_server.ts";
import { createApp } from "../../src/http/app.ts";
import { detectPlatform } from "../../src/platform.ts";
import { testSystem } from "../support/test_system.ts";
import { HAS_CHROMIUM, launchBrowser } from "./_browser.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_CHROMIUM, fn });

/** What each first message makes the model ask for; after the results, it says "Done.". */
function scriptedModel(): FakeMessagesApi {
  return startFakeMessagesApi((request) => {
    const blocks = request.body.messages.at(-1)!.content as Anthropic.ContentBlockParam[];
    const text = typeof blocks === "string" ? blocks : blocks[0].type === "text" && blocks[0].text;
    if (text === false) {
      const errors = blocks.filter((block) => block.type === "tool_result" && block.is_error);
      return { text: `Done (${errors.length} errors).` };
    }
    const last = text;
    if (last === "three sleeps") {
      return {
        toolCalls: ["a", "b", "c"].map((label) => ({
          name: "sleep",
          input: { ms: 400, label },
        })),
      };
    }
    if (last === "think first") {
      return { thinking: "Pondering deeply.", text: "Thought it through." };
    }
    if (last === "one long sleep") return { toolCalls: [{ name: "sleep", input: { ms: 60_000 } }] };
    if (last === "two guarded") {
      return {
        toolCalls: ["first", "second"].map((say) => ({ name: "guarded", input: { say } })),
      };
    }
    return { text: `Echo: ${last}` };
  });
}

/** Starts a conversation from the page's form and waits for its view. */
async function startFromPage(page: Page, url: string, message: string): Promise<void> {
  await page.goto(url);
  await page.fill("form.new textarea[name=message]", message);
  await page.click("form.new button");
  await page.waitForURL(/#\/c\//);
}

/** The page's bars, as the browser laid them out, with the server times they show. */
function bars(page: Page) {
  return page.$$eval(".bar", (elements) =>
    elements.map((bar) => {
      const box = bar.getBoundingClientRect();
      const data = (name: string) => bar.getAttribute(`data-${name}`);
      return {
        state: data("state"),
        start: Number(data("start")),
        end: Number(data("end")),
        left: box.left,
        right: box.right,
      };
    }));
}

test("the page starts a conversation whose three parallel calls show as overlapping bars that end succeeded", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  await using browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await startFromPage(page, server.url, "hello");
  await page.waitForSelector(".turn[data-done=finished]");
  // The page follows the conversation live from here on.
  await page.fill("form.send textarea", "three sleeps");
  await page.click("form.send button");
  await page.waitForSelector(".turn[data-turn='2'][data-done=finished]");
  const shown = await bars(page);
  assertEquals(shown.map((bar) => bar.state), ["succeeded", "succeeded", "succeeded"]);
  // All started before the first ended: on the server's clock, and on the screen.
  const firstEnd = Math.min(...shown.map((bar) => bar.end));
  assert(shown.every((bar) => bar.start < firstEnd), JSON.stringify(shown));
  const leftmostRight = Math.min(...shown.map((bar) => bar.right));
  assert(shown.every((bar) => bar.left < leftmostRight), JSON.stringify(shown));
  assertStringIncludes(await page.textContent(".batches") ?? "", "3 calls in");
  assertStringIncludes(
    await page.textContent(".turn[data-turn='2'] .answer") ?? "",
    "Done (0 errors).",
  );
  await Deno.mkdir(".test-artifacts", { recursive: true });
  await page.locator(".turn[data-turn='2']").screenshot({ path: ".test-artifacts/timeline.png" });
});

test("the page folds the model's thinking into its turn, and its switch hides it", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api, { thinking: "adaptive" });
  await using server = startTestServer(system);
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await startFromPage(page, server.url, "think first");
  await page.waitForSelector(".turn[data-done=finished]");
  const fold = page.locator(".turn details.thinking");
  assertEquals(await fold.getAttribute("open"), null, "folded");
  assertEquals(await fold.locator("p").textContent(), "Pondering deeply.");
  assertEquals(await page.textContent(".turn .answer"), "Thought it through.");
  await page.uncheck(".thinking-switch input");
  assertEquals(await fold.isVisible(), false);
});

test("the page lists conversations newest first with their state", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  for (const text of ["older", "newer"]) await (await system.createConversation()).send(text);
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForSelector("ul.conversations li a");
  const rows = await page.$$eval(
    "ul.conversations li",
    (items) => items.map((item) => [item.querySelector("a")?.textContent, item.className]),
  );
  assertEquals(rows, [["newer", "idle"], ["older", "idle"]]);
});

test("the page cancels a running turn: its call ends cancelled", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await startFromPage(page, server.url, "one long sleep");
  await page.waitForSelector(".bar[data-state=running]");
  await page.click("button.cancel");
  await page.waitForSelector(".bar[data-state=cancelled]");
  await page.waitForSelector(".turn[data-done]");
  assertEquals(await page.isDisabled("button.cancel"), true);
});

test("the page approves one waiting call and denies the other", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await startFromPage(page, server.url, "two guarded");
  const waiting = page.locator(".row:has(.bar[data-state=awaiting_approval])");
  await waiting.nth(1).waitFor();
  // A person sees what each call would do before deciding: its input is in the row.
  const inputs = await waiting.locator(".input summary").allTextContents();
  assertEquals(inputs.toSorted(), ['{"say":"first"}', '{"say":"second"}']);
  await waiting.first().locator("button.approve").click();
  await page.waitForSelector(".bar[data-state=succeeded]");
  await page.locator(".row:has(.bar[data-state=awaiting_approval]) button.deny").click();
  await page.waitForSelector(".turn[data-done=finished]");
  const states = await page.$$eval(
    ".bar",
    (all) => all.map((bar) => bar.getAttribute("data-state")),
  );
  assertEquals(states.toSorted(), ["failed", "succeeded"]);
  assertStringIncludes(await page.textContent(".row:has(.bar.failed) .note") ?? "", "Denied");
  assertStringIncludes(await page.textContent(".answer") ?? "", "Done (1 errors).");
});

test("with a token set, the page asks for it once and then shows the conversations", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system, { token: "page-secret" });
  const refused = await fetch(`${server.url}/v1/conversations`);
  assertEquals(refused.status, 401);
  await refused.body?.cancel();
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.fill("form.token input", "page-secret");
  await page.click("form.token button");
  await startFromPage(page, server.url, "hello");
  await page.waitForSelector(".turn[data-done=finished]");
  assertStringIncludes(await page.textContent(".answer") ?? "", "Echo: hello");
});

test("the page takes a dropped event stream up again with Last-Event-ID: a turn run while it was away shows once, complete", async () => {
  await using api = scriptedModel();
  await using system = await testSystem(api);
  // One port, two apps in turn: the first shuts down (its streams end), the second serves on.
  const stopping = new AbortController();
  let app = createApp({ system, platform: detectPlatform(), shutdown: stopping.signal });
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => app.fetch(request),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await startFromPage(page, url, "hello");
  await page.waitForSelector(".turn[data-done=finished]");
  const id = new URL(page.url()).hash.slice("#/c/".length);

  stopping.abort();
  await page.waitForSelector(".status:has-text('reconnecting')");
  const conversation = (await system.get(id))!;
  assertEquals((await conversation.send("three sleeps")).status, "completed");
  app = createApp({ system, platform: detectPlatform() });

  await page.waitForSelector(".turn[data-turn='2'][data-done=finished]");
  assertEquals(await page.locator(".turn").count(), 2);
  assertEquals(await page.locator(".turn[data-turn='2'] .bar").count(), 3);
  assertEquals(
    await page.locator(".turn[data-turn='2'] .answer").allTextContents(),
    ["Done (0 errors)."],
  );
  assertEquals(await page.textContent(".status"), "idle");
});
