"""Rich tables for the command line: portfolio summaries and the three agents' reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agents.reports import (
    AnalysisOutput,
    RiskAssessmentReport,
    RoadmapReport,
    ScenarioReport,
    money,
    percent,
)
from engines.forecast import BEYOND_HORIZON
from graph.import_recovery import (
    DEFAULT_LEASE_SECONDS,
    LeasedImport,
    RevisionState,
    heartbeat_age,
    is_stale,
)
from graph.portfolio import FeatureStatus, Portfolio
from graph.store import ImportSummary
from workflows.durations import human_duration


def _names(portfolio: Portfolio) -> dict[str, str]:
    names: dict[str, str] = {}
    for collection in (portfolio.products, portfolio.teams, portfolio.features, portfolio.customers):
        names.update({entity.id: entity.name for entity in collection})
    return names


def portfolio_summary(
    console: Console,
    portfolio: Portfolio,
    graph_counts: Mapping[str, int],
    demand: Mapping[str, tuple[int, float]],
) -> None:
    """Counts, teams, ARR spread and the most demanded features of a portfolio read back from the graph."""
    names = _names(portfolio)
    counts = Table(title="Graph contents", show_header=True)
    counts.add_column("label / relationship")
    counts.add_column("count", justify="right")
    for key, value in graph_counts.items():
        counts.add_row(key, f"{value:,}")

    teams = Table(title="Teams")
    for column in ("team", "headcount", "capacity pw/wk", "mean throughput", "open features"):
        teams.add_column(column, justify="left" if column == "team" else "right")
    open_by_team = Counter(f.team_id for f in portfolio.features if f.status is not FeatureStatus.DONE)
    for team in portfolio.teams:
        history = team.throughput_history
        mean = sum(history) / len(history) if history else team.capacity
        teams.add_row(
            f"{team.name} ({team.id})",
            str(team.headcount),
            f"{team.capacity:.1f}",
            f"{mean:.1f}",
            str(open_by_team[team.id]),
        )

    arr = sorted((c.arr for c in portfolio.customers), reverse=True)
    total = sum(arr)
    top_decile = sum(arr[: max(1, len(arr) // 10)])
    segments = Counter(c.segment.value for c in portfolio.customers)
    customers = Table(title="Customers")
    customers.add_column("measure")
    customers.add_column("value", justify="right")
    customers.add_row("customers", f"{len(arr):,}")
    customers.add_row("total ARR", money(total))
    customers.add_row("largest account", money(arr[0]) if arr else "-")
    customers.add_row("median account", money(arr[len(arr) // 2]) if arr else "-")
    customers.add_row("ARR share of top 10% of customers", percent(top_decile / total) if total else "-")
    for segment, count in sorted(segments.items()):
        customers.add_row(f"segment {segment}", f"{count:,}")

    top = Table(title="Most demanded features (ARR-weighted)")
    for column in ("feature", "status", "requests", "weighted ARR"):
        top.add_column(column, justify="left" if column in ("feature", "status") else "right")
    status = {f.id: f.status.value for f in portfolio.features}
    ranked = sorted(demand.items(), key=lambda item: (-item[1][1], item[0]))[:10]
    for feature_id, (requests, weighted) in ranked:
        top.add_row(
            f"{names.get(feature_id, feature_id)} ({feature_id})",
            status.get(feature_id, "?"),
            str(requests),
            money(weighted),
        )

    console.print(counts)
    console.print(teams)
    console.print(customers)
    console.print(top)


def import_summary(console: Console, summary: ImportSummary) -> None:
    table = Table(title=f"Import: {human_duration(summary.seconds)} in {summary.transactions} transaction(s)")
    for column in ("nodes / relationships", "created", "updated", "deleted", "unchanged"):
        table.add_column(column, justify="left" if column.startswith("nodes") else "right")
    for group in (summary.nodes, summary.relationships):
        for name, changes in group.items():
            table.add_row(
                name,
                f"{changes.created:,}",
                f"{changes.updated:,}",
                f"{changes.deleted:,}",
                f"{changes.unchanged:,}",
            )
    if not summary.changed:
        table.caption = "nothing changed: the graph already held this portfolio"
    console.print(table)
    if summary.finished_interrupted_import is not None and summary.interrupted_import_outcome is not None:
        console.print(
            f"[yellow]An interrupted import of revision {summary.finished_interrupted_import} was "
            f"{summary.interrupted_import_outcome.value} first.[/]"
        )


def _lease_words(staged: LeasedImport, lease_seconds: float) -> tuple[str, str]:
    """(" (by host:pid, last heartbeat ...)", whether its holder is running) for `lodestar summary`."""
    holder = f" (by {staged.owner}, last heartbeat {staged.heartbeat})" if staged.owner is not None else ""
    if not is_stale(staged, lease_seconds):
        return holder, "it is still running"
    age = heartbeat_age(staged)
    if staged.owner is None or age is None:
        return holder, "it was interrupted"
    why = "its process is gone" if age <= lease_seconds else f"no heartbeat for {age:.0f} s"
    return holder, f"it was interrupted ({why})"


def staged_import_lines(state: RevisionState, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[str]:
    """What `lodestar summary` says about a staged import pending or settling, with who holds it and whether
    it still runs (`graph.import_recovery.is_stale` under `lease_seconds`), and the last recovery."""
    lines: list[str] = []
    if state.pending is not None:
        holder, status = _lease_words(state.pending, lease_seconds)
        lines.append(
            f"[yellow]An import of {state.pending.rows} rows (revision {state.pending.revision}) started at "
            f"{state.pending.since} has not committed{holder}: {status}. Readers see the previous "
            "portfolio, shown below; the first import after it stops rolls it back.[/]"
        )
    if state.settling is not None:
        holder, status = _lease_words(state.settling, lease_seconds)
        lines.append(
            f"[yellow]The import of {state.settling.rows} rows (revision {state.settling.revision}) started at "
            f"{state.settling.since} committed, and readers see it; its clean-up{holder} has not finished: {status}, and the "
            "first import after it stops finishes it.[/]"
        )
    if state.recovered is not None:
        recovered = state.recovered
        lines.append(
            f"An interrupted import of revision {recovered.revision} ({recovered.rows} rows, started at "
            f"{recovered.since}) was {recovered.outcome.value} at {recovered.at}."
        )
    return lines


def _analysis_panel(
    title: str, analysis: AnalysisOutput, model_name: str, requests: int, tokens: int
) -> Panel:
    lines = [Text(analysis.headline, style="bold")]
    for finding in analysis.findings:
        lines.append(Text(f"• {finding.statement}  [{', '.join(finding.evidence_ids)}]"))
    lines.append(Text(f"→ {analysis.recommendation}", style="green"))
    lines.append(Text(f"model {model_name} · {requests} model requests · {tokens} tokens", style="dim"))
    return Panel(Group(*lines), title=title)


def scenario_report(console: Console, report: ScenarioReport, portfolio: Portfolio) -> None:
    names = _names(portfolio)
    base = report.baseline
    console.print(
        f"Baseline: {base.trials:,} trials, seed {base.seed}; ARR-weighted on-time "
        f"{percent(base.arr_weighted_on_time)}, ARR at risk {money(base.arr_at_risk)} "
        f"({len(base.customers_at_risk)} customers)"
    )
    if report.comparison is not None:
        table = Table(title="Scenarios side by side")
        for column in (
            "scenario",
            "ARR at risk",
            "ARR-weighted on-time",
            "late features",
            "customers at risk",
        ):
            table.add_column(column, justify="left" if column == "scenario" else "right")
        for row in report.comparison.rows:
            table.add_row(
                f"{row.name} ({row.scenario_id})",
                money(row.arr_at_risk),
                percent(row.arr_weighted_on_time),
                str(row.late_features),
                str(row.customers_at_risk),
            )
        console.print(table)
    for result in report.results:
        movers = Table(title=f"Biggest moves: {result.scenario.name}")
        for column in (
            "feature",
            "P50 before → after",
            "P85 before → after",
            "P85 shift (days)",
            "on-time Δ",
        ):
            movers.add_column(column, justify="left" if column == "feature" else "right")
        for move in result.delta.feature_changes[:8]:
            on_time = move.on_time_probability_change
            movers.add_row(
                f"{names.get(move.feature_id, move.feature_id)} ({move.feature_id})",
                f"{move.baseline_p50 or 'beyond'} → {move.scenario_p50 or 'beyond'}",
                f"{move.baseline_p85 or 'beyond'} → {move.scenario_p85 or 'beyond'}",
                "-" if move.p85_shift_days is None else f"{move.p85_shift_days:+d}",
                "-" if on_time is None else f"{on_time * 100:+.0f} pp",
            )
        console.print(movers)
    console.print(
        _analysis_panel(
            "Scenario analysis",
            report.analysis,
            report.model_name,
            report.usage.requests,
            report.usage.input_tokens + report.usage.output_tokens,
        )
    )


def roadmap_report(console: Console, report: RoadmapReport, portfolio: Portfolio) -> None:
    names = _names(portfolio)
    plan = report.plan
    for quarter in plan.quarters:
        table = Table(title=f"Q{quarter.index + 1}: {quarter.start} – {quarter.end}")
        for column in ("feature", "team", "kind", "value", "effort pw", "RICE", "WSJF"):
            table.add_column(column, justify="left" if column in ("feature", "team", "kind") else "right")
        items = sorted([*quarter.commitments, *quarter.explorations], key=lambda i: (i.kind, -i.value))
        for item in items:
            table.add_row(
                f"{names.get(item.feature_id, item.feature_id)} ({item.feature_id})",
                item.team_id,
                item.kind,
                f"{item.value:.3f}",
                f"{item.effort:.1f}",
                f"{item.scores.rice.score:.1f}",
                f"{item.scores.wsjf.score:.2f}",
            )
        used = ", ".join(
            f"{use.team_id} {use.used:.0f}/{use.available:.0f}" for use in quarter.capacity if use.used > 0
        )
        table.caption = f"capacity used (person-weeks): {used}"
        console.print(table)
    reasons = Counter(f.reason for f in plan.left_out)
    solver = plan.solver
    greedy = "-" if plan.greedy_value is None else f"{plan.greedy_value:.3f}"
    ratio = "" if plan.value_ratio_vs_greedy is None else f" ({plan.value_ratio_vs_greedy:.3f}× greedy)"
    console.print(
        f"Plan value {plan.total_value:.3f} vs greedy {greedy}{ratio}; solver {solver.source} "
        f"{solver.status}, gap {'-' if solver.plan_gap is None else f'{solver.plan_gap:.2%}'}, "
        f"{human_duration(solver.wall_time_s)}. Left out: "
        + (", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())) or "none")
    )
    console.print(
        _analysis_panel(
            "Roadmap analysis",
            report.analysis,
            report.model_name,
            report.usage.requests,
            report.usage.input_tokens + report.usage.output_tokens,
        )
    )


def risk_report(console: Console, report: RiskAssessmentReport, portfolio: Portfolio, top: int = 12) -> None:
    names = _names(portfolio)
    risks = report.report
    console.print(
        f"ARR at risk {money(risks.arr_at_risk)} of {money(risks.total_arr)} "
        f"({len(risks.customers_at_risk)} customers); critical path {risks.critical_path_weeks:.1f} weeks: "
        + " → ".join(risks.critical_path[:6])
    )
    if risks.expected_arr_at_risk is not None:
        console.print(f"Expected ARR at risk (ARR × P(miss renewal)): {money(risks.expected_arr_at_risk)}")
    if risks.critical_path_note is not None:
        console.print(risks.critical_path_note)
    table = Table(title="Top risks")
    for column in ("severity", "kind", "risk", "affected", "mitigation"):
        table.add_column(column, justify="right" if column == "severity" else "left")
    for risk in risks.top(top):
        table.add_row(
            f"{risk.severity:.2f}",
            risk.kind.value,
            risk.title,
            ", ".join(risk.affected_ids[:4]) + (" …" if len(risk.affected_ids) > 4 else ""),
            risk.mitigation,
        )
    console.print(table)
    exposed = Table(title="Customers at risk (P85 after renewal)")
    for column in ("customer", "ARR", "renewal", "latest P85", "late features"):
        exposed.add_column(column, justify="right" if column == "ARR" else "left")
    for customer in risks.customers_at_risk[:10]:
        exposed.add_row(
            f"{names.get(customer.customer_id, customer.customer_id)} ({customer.customer_id})",
            money(customer.arr),
            str(customer.renewal_date),
            "beyond horizon" if customer.latest_p85 == BEYOND_HORIZON else str(customer.latest_p85),
            ", ".join(customer.late_feature_ids[:3]),
        )
    console.print(exposed)
    console.print(
        _analysis_panel(
            "Risk analysis",
            report.analysis,
            report.model_name,
            report.usage.requests,
            report.usage.input_tokens + report.usage.output_tokens,
        )
    )
