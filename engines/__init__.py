"""The deterministic analytic engines: pure functions of a `graph.portfolio.Portfolio`, no I/O.

What each module offers:

- `engines.forecast`: `forecast` (the Monte Carlo delivery forecast: `Forecast` with P50/P85/P95 dates and
  on-time probabilities per feature, release, objective and requesting customer), `completion_matrix` and
  `summarise` (the raw per-trial completion weeks, and the summary from them), `BEYOND_HORIZON`,
  `ForecastError`.
- `engines.scenario_changes`: what a what-if may change (`Scenario` and its `ScenarioChange`s),
  `prepare_scenario` / `apply_scenario` (validated, rewritten portfolio), `ScenarioError`.
- `engines.scenarios`: `simulate_scenario` (`ScenarioResult`: a scenario's forecast and its deltas against the
  baseline), `compare_scenarios` (`ScenarioComparison`), `late_feature_count`.
- `engines.roadmap`: `draft_roadmap` (`RoadmapPlan`: quarters drafted by a MILP under team capacity and
  dependencies, with its greedy baseline and `SolverReport`), `quarter_label`, `RoadmapError`.
- `engines.scoring`: `score_features` (`FeatureScore`: RICE, WSJF and demand x objectives, each with its
  `ScoreBreakdown`).
- `engines.risk`: `assess_risks` (`RiskReport`: critical path, cross-team chains, team load, ARR at risk; each
  `Risk` with its severity formula).
- `engines.common`: what more than one engine needs: `dependency_graph`, `dependency_cycle`,
  `customers_at_risk` (`CustomerAtRisk`).

Every module's docstring states its model; seeded runs are reproducible bit for bit.
"""
