"""The GraphQL API: one endpoint, `/graphql`, over HTTP and WebSocket, on the portfolio graph, the stored
results and the Temporal runs.

What other packages use:

- `api.server`: `serve()` (what `lodestar serve` runs), `services_for()` and `open_services()` (the
  process's `ApiServices` on an open graph), `running_server()` (an app on a free loopback port, for
  tests and benchmarks), `reserve_port()`, `socket_url()`, `PortInUseError`.
- `api.app`: `create_app(services)`, the ASGI application.
- `api.schema`: `build_schema(settings)` and `schema_sdl()` (the committed `api/schema.graphql`).
- `api.settings`: `ApiSettings` and `ApiMode`.
- `api.auth`: `Role`, `Principal` and `create_api_key()` (what the command line calls to issue keys).
- `api.context`: `ApiServices`, `RequestContext` and `Loaders`, for code that runs the schema in process.

The rest is the schema's inside: the GraphQL types of the portfolio (`api.types`), of the results
(`api.result_types`, read by `api.result_reader`), of the runs and schedules (`api.runs`,
`api.schedules`), the mutations and subscriptions, pagination, permissions, limits and error masking
(`api.extensions`, `api.transport`), health and tracing. How a read is answered, and why each cache on
the way exists, is in `api/READ_PATH.md`.
"""
