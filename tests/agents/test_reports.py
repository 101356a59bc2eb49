"""The report models and builders: reading a stored report loads no agent; the CLI and the workflows
assemble a report the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agents.deps import AnalysisDeps
from agents.reports import AgentReport, RiskAssessmentReport, risk_assessment_report
from agents.risk_agent import run_risk_assessment
from graph.portfolio import Portfolio

REPO = Path(__file__).resolve().parents[2]

RESULT_READING_MODULES = ("agents.reports", "workflows.payloads", "api.result_reader", "api.result_types")


def test_reading_stored_reports_imports_no_pydantic_ai() -> None:
    imports = "; ".join(f"import {module}" for module in RESULT_READING_MODULES)
    check = f"import sys; {imports}; print('pydantic_ai' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", f"{RESULT_READING_MODULES} must not load pydantic-ai"


async def test_the_cli_report_is_the_one_the_builder_assembles(
    demo_portfolio: Portfolio, demo_deps: AnalysisDeps
) -> None:
    report = await run_risk_assessment(demo_deps)
    facts = AgentReport.model_validate(report.model_dump(include=set(AgentReport.model_fields)))
    rebuilt = risk_assessment_report(demo_portfolio, demo_deps, facts, report.analysis)
    assert rebuilt == report
    assert RiskAssessmentReport.model_validate_json(report.model_dump_json()) == report
