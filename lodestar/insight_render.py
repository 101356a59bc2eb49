"""How `lodestar insight` and `lodestar demo` print a customer-insight digest."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from agents.insight_runs import InsightReport
from agents.reports import money
from lodestar.render import _analysis_panel  # pyright: ignore[reportPrivateUsage]


def insight_report(console: Console, report: InsightReport, *, top: int = 10) -> None:
    console.print(
        f"{report.feedback_count} feedback items, {report.theme_count} themes, "
        f"{report.suggested_link_count} suggested feature links awaiting review"
    )
    table = Table(title="Largest themes")
    for column in ("#", "theme", "items", "customers", "ARR", "sentiment", "trend (recent / before)"):
        table.add_column(
            column, justify="left" if column in ("theme", "trend (recent / before)") else "right"
        )
    for theme in report.themes[:top]:
        table.add_row(
            str(theme.rank),
            f"{theme.label} ({theme.theme_id})",
            str(theme.item_count),
            str(theme.customer_count),
            money(theme.arr),
            f"{theme.sentiment:+.2f}",
            f"{theme.trend} ({theme.recent_count} / {theme.previous_count})",
        )
    console.print(table)
    usage = report.usage
    tokens = usage.input_tokens + usage.output_tokens
    console.print(
        _analysis_panel("Insight digest", report.analysis, report.model_name, usage.requests, tokens)
    )
