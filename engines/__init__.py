"""The deterministic analytic engines: pure functions of a `graph.portfolio.Portfolio`, no I/O.

What each module offers:

- `engines.forecast`: `forecast` (the Monte Carlo delivery forecast: `Forecast` with P50/P85/P95 dates and
  on-time probabilities per feature, release, objective and requesting customer), `completion_matrix` and
  `summarise` (the raw per-trial completion weeks, and the summary from them), `BEYOND_HORIZON`,
  `ForecastError`.
- `engines.throughput`: the one throughput model (per-trial team rate from a posterior on the history with a
  prior on capacity, lognormal weekly noise): `weekly_throughput`, `delivered_quantile`,
  `probability_delivered`, `ThroughputKind`, `ThroughputPrior`.
- `engines.work_calendar`: `DateCalendar` (calendar days, or working days skipping weekends and team
  holidays) and its day arithmetic.
- `engines.scenario_changes`: what a what-if may change (`Scenario` and its `ScenarioChange`s),
  `prepare_scenario` / `apply_scenario` (validated, rewritten portfolio), `ScenarioError`.
- `engines.scenarios`: `simulate_scenario` (`ScenarioResult`: a scenario's forecast and its deltas against the
  baseline), `compare_scenarios` (`ScenarioComparison`), `late_feature_count`.
- `engines.roadmap`: `draft_roadmap` (`RoadmapPlan`: quarters drafted by a MILP under team capacity from the
  throughput model and dependencies, features spanning quarters where their effort needs it, each item with
  the forecast's finish probability; with its greedy baseline and `SolverReport`), `quarter_label`,
  `RoadmapError`.
- `engines.scoring`: `score_features` (`FeatureScore`: RICE, WSJF and demand x objectives, each with its
  `ScoreBreakdown`).
- `engines.risk`: `assess_risks` (`RiskReport`: dependency and resource critical paths, cross-team chains,
  team load, ARR at risk by the P85 rule and expected; each `Risk` with its severity formula).
- `engines.insight`: customer insight, offline: `load_embedder` (WordLlama weights from its wheel),
  `sentiment` (VADER plus a product-feedback lexicon), `find_themes` (`Theme`s with `Trend`s),
  `suggest_links` (`LinkSuggestion`s above `SUGGESTED_LINK_THRESHOLD`, rejected pairs never again).
- `engines.common`: what more than one engine needs: `expected_remaining_effort` (the one effort
  convention), `dependency_graph`, `dependency_cycle`, `customers_at_risk` (`CustomerAtRisk`),
  `customers_expected_at_risk` (`CustomerRenewalRisk`).

Every module's docstring states its model; seeded runs are reproducible bit for bit.
"""
