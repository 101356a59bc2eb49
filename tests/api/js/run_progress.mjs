// Subscribes to a run's progress with the `graphql-ws` client (over `ws`, Node 20 has no global
// WebSocket) and prints each result as one JSON line; exits 1 if the subscription fails.
// Usage: node run_progress.mjs WS_URL API_KEY RUN_ID
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, apiKey, runId] = process.argv.slice(2);
const query = `subscription($id: ID!) {
  runProgress(id: $id) { runId kind state stage percent seq message done }
}`;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { apiKey },
  retryAttempts: 0,
});

try {
  for await (const result of client.iterate({ query, variables: { id: runId } })) {
    process.stdout.write(JSON.stringify(result) + "\n");
  }
} catch (error) {
  const detail = error instanceof Error ? error.message : JSON.stringify({ code: error?.code, reason: error?.reason });
  process.stderr.write(`subscription failed: ${detail}\n`);
  process.exitCode = 1;
} finally {
  await client.dispose();
}
