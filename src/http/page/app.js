// The page: a list of conversations and a form to start one (#/), or one
// conversation (#/c/<id>). Asks for the API token when the server wants one.

import { ApiError, rememberToken, request, sendMessage } from "./api.js";
import { showConversation } from "./conversation.js";
import { element } from "./dom.js";

const root = document.querySelector("main");
let leaving = new AbortController();

globalThis.addEventListener("hashchange", route);
route();

function route() {
  leaving.abort();
  leaving = new AbortController();
  const signal = leaving.signal;
  const id = location.hash.match(/^#\/c\/([\w-]+)$/)?.[1];
  if (id) showConversation(root, id, { signal, onDenied: askForToken });
  else showList(signal).catch(askForToken);
}

/** Unauthorised: asks for the token once, keeps it for the tab, and tries again. */
function askForToken(error) {
  if (!(error instanceof ApiError) || error.status !== 401) return showError(error);
  const input = element("input", { type: "password", name: "token", required: true });
  const form = element("form", { className: "token" }, [
    element("label", { textContent: "This server needs its API token (AGENT_API_TOKEN): " }, [
      input,
    ]),
    element("button", { textContent: "Continue" }),
  ]);
  form.onsubmit = (submit) => {
    submit.preventDefault();
    rememberToken(input.value);
    route();
  };
  root.replaceChildren(form);
}

function showError(error) {
  root.replaceChildren(element("p", { className: "error", textContent: error.message }));
}

async function showList(signal) {
  const [{ tools }, listed] = await Promise.all([
    request("GET", "/v1/tools"),
    request("GET", "/v1/conversations"),
  ]);
  const list = element("ul", { className: "conversations" });
  root.replaceChildren(
    newConversationForm(tools),
    element("h2", { textContent: "Conversations" }),
    list,
  );
  fillList(list, listed.conversations);
  // Other clients start conversations too.
  const poll = setInterval(async () => {
    fillList(list, (await request("GET", "/v1/conversations").catch(() => listed)).conversations);
  }, 2000);
  signal.addEventListener("abort", () => clearInterval(poll));
}

function fillList(list, conversations) {
  list.replaceChildren(
    ...conversations.map(({ id, createdAt, state, title }) =>
      element("li", { className: state }, [
        element("a", { href: `#/c/${id}`, textContent: title || "(no message yet)" }),
        element("span", { className: "state", textContent: state }),
        element("time", { textContent: new Date(createdAt).toLocaleString() }),
      ])
    ),
  );
  if (conversations.length === 0) list.append(element("li", { textContent: "None yet." }));
}

function newConversationForm(tools) {
  const message = element("textarea", { name: "message", rows: 3, required: true });
  const system = element("textarea", { name: "system", rows: 2 });
  const boxes = tools.map((tool) =>
    element("input", { type: "checkbox", name: "tool", value: tool.name, checked: true })
  );
  const error = element("p", { className: "error", hidden: true });
  const form = element("form", { className: "new" }, [
    element("h2", { textContent: "New conversation" }),
    element("label", { textContent: "Message" }, [message]),
    element("label", { textContent: "System prompt (optional)" }, [system]),
    element("fieldset", {}, [
      element("legend", { textContent: "Tools it may call" }),
      ...tools.map((tool, n) =>
        element("label", { className: "tool", title: tool.description }, [boxes[n], tool.name])
      ),
    ]),
    element("button", { textContent: "Start" }),
    error,
  ]);
  form.onsubmit = async (submit) => {
    submit.preventDefault();
    try {
      const created = await request("POST", "/v1/conversations", {
        tools: boxes.filter((box) => box.checked).map((box) => box.value),
        ...(system.value ? { system: system.value } : {}),
      });
      await sendMessage(created.id, message.value);
      location.hash = `#/c/${created.id}`;
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  };
  return form;
}
