"""Worker wiring that needs no server: tracing configuration and the sandbox passthrough list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflows.worker import PASSTHROUGH_MODULES, configure_tracing, workflow_runner

REPO_ROOT = Path(__file__).resolve().parents[2]

_CONFIGURE = """
from opentelemetry import trace
from pydantic_ai import Agent
from workflows.worker import configure_tracing
configured = configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
print(configured, type(trace.get_tracer_provider()).__name__, Agent._instrument_default.include_content)
"""


def test_tracing_stays_off_without_an_otlp_endpoint() -> None:
    assert configure_tracing({}) is False
    assert configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}) is False


def test_an_otlp_endpoint_installs_the_replay_safe_provider_and_agent_instrumentation() -> None:
    # In a child process: the global tracer provider can be set only once per process.
    finished = subprocess.run(
        [sys.executable, "-c", _CONFIGURE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=True,
    )
    assert finished.stdout.split() == ["True", "ReplaySafeTracerProvider", "False"]


def test_our_packages_are_passed_through_the_workflow_sandbox() -> None:
    passthrough = workflow_runner().restrictions.passthrough_modules
    assert {
        "agents",
        "graph",
        "workflows.payloads",
        "workflows.durable_agents",
        "numpy",
        "networkx",
    } <= passthrough
    # The workflow definitions themselves must be re-imported in the sandbox, never passed through.
    assert "workflows.workflows" not in PASSTHROUGH_MODULES and "workflows" not in PASSTHROUGH_MODULES
