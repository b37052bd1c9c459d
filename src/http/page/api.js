// The page's way to the API: the token kept for this tab, JSON requests,
// and a conversation's event stream that resumes where it dropped.

const TOKEN_KEY = "agent-api-token";

/** An answer other than 2xx, with the API's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Keeps the API token for this tab only. */
export function rememberToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function headers(extra) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** Calls the API; resolves with its JSON answer, or throws an ApiError. */
export async function request(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { "content-type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await refusal(response);
  return await response.json();
}

/**
 * Sends a user message; resolves once the server has taken it (the turn is
 * followed on the event stream), or throws an ApiError (busy, invalid…).
 */
export async function sendMessage(conversationId, content) {
  const response = await fetch(`/v1/conversations/${conversationId}/messages`, {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify({ content }),
  });
  if (!response.ok) throw await refusal(response);
  await response.body.cancel(); // taken: this stream of its turn is not needed
}

/**
 * Calls `onEvent` with every event of a conversation, its past first, until
 * `signal` aborts. A dropped stream is taken up again with `Last-Event-ID`,
 * so no event is lost or repeated. `onLink(true|false)` tells whether the
 * stream is connected. Throws an ApiError when the server refuses it.
 */
export async function followEvents(conversationId, onEvent, { signal, onLink }) {
  let lastId = 0; // ids start above 0: "0" asks for everything
  while (!signal.aborted) {
    try {
      const response = await fetch(`/v1/conversations/${conversationId}/events`, {
        headers: headers({ accept: "text/event-stream", "last-event-id": String(lastId) }),
        signal,
      });
      if (!response.ok) throw await refusal(response);
      onLink(true);
      for await (const message of serverSentEvents(response.body)) {
        const id = Number(message.id);
        if (message.id === undefined || id <= lastId) continue;
        lastId = id;
        onEvent(JSON.parse(message.data));
      }
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    if (signal.aborted) return;
    onLink(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The API's error answer as an ApiError with its message. */
async function refusal(response) {
  const data = await response.json().catch(() => ({}));
  return new ApiError(response.status, data.error?.message ?? response.statusText);
}

/** The messages of a `text/event-stream` body. */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = {};
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (message.data !== undefined) yield message;
        message = {};
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") {
          message.data = message.data === undefined ? text : `${message.data}\n${text}`;
        } else if (field === "id" || field === "event") message[field] = text;
      }
    }
  }
}
