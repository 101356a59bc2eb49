"""The agents' dependencies: a small, serialisable request that names a snapshot and the analysis settings.

It crosses Temporal activity boundaries as it is, so it holds ids and settings, never the graph.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from engines.roadmap import CapacityModel
from engines.scenario_changes import Scenario


class AnalysisDeps(BaseModel):
    model_config = ConfigDict(frozen=True)

    snapshot_id: str
    as_of: date
    seed: int = 0
    trials: int = Field(default=10_000, ge=100, le=100_000)
    horizon_weeks: int = Field(default=260, ge=4, le=1_040)
    top_n: int = Field(default=8, ge=1, le=25, description="How many items a tool summary lists.")
    scenarios: list[Scenario] = Field(default_factory=list[Scenario])
    quarters: int = Field(default=4, ge=1, le=8)
    pins: dict[str, int] = Field(default_factory=dict[str, int])
    exclusions: list[str] = Field(default_factory=list[str])
    planner_time_limit_s: float = Field(default=10.0, gt=0, le=600)
    capacity_model: CapacityModel = Field(
        default="throughput",
        description="The roadmap planner's capacity per quarter: `throughput` (what the team finishes with "
        "85% probability under the forecast's throughput model) or `nominal` (capacity x 13 weeks x 0.85).",
    )
    risk_horizon_weeks: int = Field(default=26, ge=1, le=260)
