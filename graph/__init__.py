"""The portfolio graph: its model, its import, and every statement Lodestar sends to the database.

The package re-exports nothing: `graph.portfolio` is imported by the engines, which must not load the
database driver, so each name is imported from its module.

The model and its documents:
- `graph.portfolio`: the portfolio model (`Portfolio`, `Feature`, `Customer`, ...).
- `graph.validation`: import validation (`validate_document`, `PortfolioValidationError`).
- `graph.portfolio_files`: reading and writing JSON documents and CSV folders.
- `graph.demo`: the generated demo portfolios (`generate_portfolio_with_feedback_truth` adds each feedback
  item's true feature and topic); `graph.demo_feedback`: the feedback generator behind it.

Talking to the database:
- `graph.cypher`: the one runner (`CypherRunner`: managed read/write units of work, conflict retries,
  observers, spans), named statements (`Query`, `Statements`) and driver-value conversion (`native`).
- `graph.vocabulary`: the labels, relationship types, constraints and indexes Cypher may name.
- `graph.portfolio_statements`: the Cypher over the portfolio (schema, import, snapshot, read models).
- `graph.result_statements`: the Cypher over result nodes.
- `graph.visibility`: what every portfolio read filters by, the committed revision; `graph.staging_statements`
  and `graph.import_recovery`: imports staged under their future revision, and putting interrupted ones right.
- `graph.store`: `GraphStore`, the portfolio's import, clear and snapshot; its read models come from
  `graph.read_models` (`ReadModels`, and the builders of entities from records).
- `graph.result_store`: `ResultStore`, the workflows' stored results and the roadmap lifecycle.
- `graph.entity_reads`: `EntityReads`, the pages, batched lookups, result summaries and API keys the
  GraphQL API reads.

Where the database lives:
- `graph.connection`: `GraphSettings`, `open_driver`, `open_graph`.
- `graph.local_db` and `graph.processes`: the local ArcadeDB server, the lifetime of local servers, and
  `freeze_startup_objects()` for long-lived processes (the API, a worker).
"""
