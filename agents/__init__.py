"""The pydantic-ai agents: scenario simulation, roadmap drafting and risk assessment over a portfolio snapshot.

What other packages use:

- `agents.reports`: the stored reports (`ScenarioReport`, `RoadmapReport`, `RiskAssessmentReport`), the
  agents' answers (`ScenarioAnalysis`, `RoadmapAnalysis`, `RiskAnalysis`), `UsageReport`, and the one
  builder per report. Imports no pydantic-ai: reading a stored report never loads the agents.
- `agents.scenario_agent`, `agents.roadmap_agent`, `agents.risk_agent`: `build_*_agent`, `*_prompt` and
  `run_*` (the agent in-process, as the CLI runs it).
- `agents.analysis_agent`: `DEFAULT_USAGE_LIMITS` and `usage_report`, for runs driven elsewhere (the workflows).
- `agents.deps.AnalysisDeps`: what a run analyses (snapshot id and settings).
- `agents.snapshots`: the process's portfolio snapshots by content-hash id.
- `agents.engine_runs`: the engine computations of a run, cached by snapshot and settings.
- `agents.model_config`: which model drives the agents (`LODESTAR_MODEL`, or the offline planner).

`agents.summaries` and `agents.evidence` serve the agents' tools and output checks only.
This module imports nothing, so importing `agents.reports` stays light.
"""
