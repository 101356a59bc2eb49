// The page's only way to the API: the public /graphql endpoint, over HTTP for queries and mutations and
// over a graphql-transport-ws WebSocket for subscriptions. Operations are loaded by name from
// operations/NAME.graphql (checked against the schema by tests/api/test_dashboard_operations.py).

const ENDPOINT = new URL("graphql", document.baseURI);
const documents = new Map();

/** An error the API answered with: `code` is its `extensions.code` (UNAUTHENTICATED, FORBIDDEN, ...). */
export class ApiError extends Error {
  constructor(message, code, errors = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.errors = errors;
  }
}

let currentKey = null;

export function useKey(key) {
  currentKey = key;
}

export function operation(name) {
  if (!documents.has(name)) {
    const loading = fetch(new URL(`app/operations/${name}.graphql`, document.baseURI)).then((response) => {
      if (!response.ok) throw new ApiError(`operation ${name} could not be loaded`, "CLIENT");
      return response.text();
    });
    documents.set(name, loading);
  }
  return documents.get(name);
}

async function post(name, variables, key) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: await operation(name), variables, operationName: name }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the API answered HTTP ${response.status}`, "HTTP_" + response.status);
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, first.extensions?.code ?? "ERROR", body.errors);
  }
  if (!response.ok) throw new ApiError(`the API answered HTTP ${response.status}`, "HTTP_" + response.status);
  return body.data;
}

/** The `data` of a query; throws ApiError on any error. */
export function query(name, variables = {}, key = currentKey) {
  return post(name, variables, key);
}

/** The `data` of a mutation; its typed result (a union) is the caller's to read. */
export function mutate(name, variables = {}, key = currentKey) {
  return post(name, variables, key);
}

/**
 * Subscribe over graphql-transport-ws; `onNext(data)` for each event, `onEnd(error?)` once.
 * Returns a function that stops the subscription.
 */
export function subscribe(name, variables, { onNext, onEnd }) {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, "graphql-transport-ws");
  let ended = false;
  const end = (error) => {
    if (ended) return;
    ended = true;
    onEnd?.(error);
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, "done");
  };
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "connection_init", payload: { apiKey: currentKey } }));
  });
  socket.addEventListener("message", async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      const payload = { query: await operation(name), variables, operationName: name };
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload }));
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      if (message.payload.errors?.length) {
        const first = message.payload.errors[0];
        end(new ApiError(first.message, first.extensions?.code ?? "ERROR", message.payload.errors));
      } else {
        onNext(message.payload.data);
      }
    } else if (message.type === "error") {
      const first = message.payload?.[0] ?? { message: "subscription refused" };
      end(new ApiError(first.message, first.extensions?.code ?? "ERROR", message.payload));
    } else if (message.type === "complete") {
      end();
    }
  });
  socket.addEventListener("close", (event) => {
    if (!ended) end(event.code === 1000 ? undefined : new ApiError(`connection closed (${event.code})`, "CLOSED"));
  });
  return () => end();
}
