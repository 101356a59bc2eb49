"""Temporal workflows, their activities and the worker.

What other packages use:

- `workflows.client`: connect, start, watch, review, cancel and list runs (the CLI and the API).
- `workflows.payloads`: the requests, progress and outcomes that cross Temporal (durable contracts).
- `workflows.schedules`: the periodic portfolio review's Temporal Schedule.
- `workflows.worker`: `build_worker` and `run_worker`.
- `workflows.local_temporal`: which Temporal server to use, and local servers for development and tests.
- `workflows.search_attributes`: Lodestar's custom search attributes.
- `workflows.durations`: durations as progress messages write them.

`workflows.workflows`, `workflows.activities` and `workflows.durable_agents` are what the worker registers;
their workflow, activity and agent names are durable contracts.
"""
