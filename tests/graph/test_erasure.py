"""Erasing a customer on the real graph: portfolio data removed, written results rewritten, one entry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from graph import erasure_statements
from graph.cypher import Query
from graph.erasure import (
    ERASED_CUSTOMER,
    ERASED_FEEDBACK,
    ERASED_ID,
    CustomerEraser,
    ErasureRequest,
    subject_hash,
)
from graph.portfolio import Portfolio
from graph.result_store import ResultStore, ResultWrite
from graph.store import GraphStore
from graph.vocabulary import NodeLabel

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _report() -> dict[str, object]:
    return {
        "analysis": {
            "headline": "c-1 (Acme) and c-10 renew first",
            "findings": [
                {"statement": "acme said fb-1.", "evidence_ids": ["c-1"]},
                {"statement": "c-2 waits.", "evidence_ids": ["c-2", "c-1"]},
            ],
        },
        "customers_at_risk": [
            {"customer_id": "c-1", "arr": 200000.0, "renewal_date": "2026-12-31"},
            {"customer_id": "c-2", "arr": 50000.0, "renewal_date": None},
        ],
        "quotes": [{"feedback_id": "fb-1", "customer_id": "c-1", "quoted_text": "Need SSO"}],
        "arr_by_customer": {"c-1": 200000.0, "c-2": 50000.0},
        "arr_at_risk": 250000.0,
    }


def _write(result_id: str, report: dict[str, object], cited: list[str], headline: str) -> ResultWrite:
    return ResultWrite(
        id=result_id,
        run_id="run-1",
        workflow_type="RiskAssessmentWorkflow",
        snapshot_id="snap",
        as_of=date(2026, 11, 23),
        recorded_at=AT,
        model_name="lodestar-offline",
        offline=True,
        headline=headline,
        figures={"customers_at_risk": cited, "arr_at_risk": 250000.0},
        cited_ids=cited,
        report_json=json.dumps(report),
    )


async def test_erasure_removes_the_customer_everywhere_and_records_counts_only(
    graph_store: GraphStore, tiny_portfolio: Portfolio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LODESTAR_ERASURE_SALT", "pepper")
    await graph_store.import_portfolio(tiny_portfolio)
    results = ResultStore(graph_store)
    await results.save_result(
        NodeLabel.RISK_ASSESSMENT, _write("risk-1", _report(), ["c-1", "c-2", "f-2"], "c-1 renews first")
    )
    untouched = {"analysis": {"headline": "c-2 only"}, "customers_at_risk": []}
    await results.save_result(NodeLabel.RISK_ASSESSMENT, _write("risk-2", untouched, ["c-2"], "c-2 only"))
    revision = await graph_store.revision()
    seen: list[Query] = []
    eraser = CustomerEraser(graph_store, query_observer=seen.append)

    report = await eraser.erase(ErasureRequest(customer_id="c-1", requested_by="dpo-key"), now=AT)

    assert (report.customers, report.requests, report.product_usages, report.feedback) == (1, 2, 2, 1)
    assert report.results_redacted == 1 and report.customer_found
    assert report.kinds == ["customer", "requests", "product_usage", "feedback", "written_results"]
    snapshot = await graph_store.portfolio_snapshot()
    assert [c.id for c in snapshot.customers] == ["c-2", "c-3"]
    assert all(r.customer_id != "c-1" for r in snapshot.requests)
    assert [f.id for f in snapshot.feedback] == ["fb-2"]
    assert await graph_store.revision() != revision

    stored = await results.get_result(NodeLabel.RISK_ASSESSMENT, "risk-1", with_report=True)
    assert stored is not None and stored.report_json is not None
    rewritten = json.loads(stored.report_json)
    assert "c-1" not in stored.report_json.replace("c-10", "") and "Acme" not in stored.report_json
    assert "acme" not in stored.report_json and "fb-1" not in stored.report_json
    assert rewritten["analysis"]["headline"] == f"{ERASED_CUSTOMER} ({ERASED_CUSTOMER}) and c-10 renew first"
    assert rewritten["analysis"]["findings"][0] == {
        "statement": f"{ERASED_CUSTOMER} said {ERASED_FEEDBACK}.",
        "evidence_ids": [ERASED_ID],
    }
    assert rewritten["analysis"]["findings"][1]["evidence_ids"] == ["c-2"]
    assert rewritten["customers_at_risk"] == [{"customer_id": "c-2", "arr": 50000.0, "renewal_date": None}]
    assert rewritten["quotes"] == [] and rewritten["arr_by_customer"] == {"c-2": 50000.0}
    assert rewritten["arr_at_risk"] == 250000.0, "aggregates stay as computed"
    assert stored.headline == f"{ERASED_CUSTOMER} renews first"
    assert stored.cited_ids == ["c-2", "f-2"] and stored.cited_in_graph == ["c-2", "f-2"]
    assert stored.figures["customers_at_risk"] == ["c-2", "f-2"]
    assert stored.redacted_at == AT and stored.report_chars == len(stored.report_json)
    other = await results.get_result(NodeLabel.RISK_ASSESSMENT, "risk-2", with_report=True)
    assert other is not None and json.loads(other.report_json or "") == untouched
    assert other.redacted_at is None

    (entry,) = await eraser.entries()
    assert entry.id == report.erasure_id and entry.erased_by == "dpo-key" and entry.erased_at == AT
    assert entry.subject_hash == subject_hash("c-1", {"LODESTAR_ERASURE_SALT": "pepper"})
    assert entry.subject_hash is not None and "c-1" not in entry.model_dump_json().replace(
        entry.subject_hash, ""
    )
    assert (entry.customers, entry.requests, entry.feedback, entry.results_redacted) == (1, 2, 1, 1)

    again = await eraser.erase(ErasureRequest(customer_id="c-1", requested_by="dpo-key"), now=AT)
    assert again.erasure_id is None and not again.customer_found and again.kinds == []
    assert len(await eraser.entries()) == 1, "an erasure that finds nothing records nothing"
    assert {q.name for q in seen} >= {
        q.name for q in erasure_statements.STATEMENTS if not q.name.startswith("erasure.update_written.")
    } | {"erasure.update_written.RiskAssessment"}


async def test_every_update_statement_runs(graph_store: GraphStore) -> None:
    eraser = CustomerEraser(graph_store)
    for query in erasure_statements.UPDATE_WRITTEN.values():

        async def work(tx: object, query: Query = query) -> int:
            return int((await eraser._cypher.records(tx, query, rows=[]))[0]["updated"])  # pyright: ignore[reportPrivateUsage, reportArgumentType]

        assert await eraser._cypher.write(work) == 0  # pyright: ignore[reportPrivateUsage, reportArgumentType]


def test_without_a_salt_no_subject_hash_is_kept() -> None:
    assert subject_hash("c-1", {}) is None
    assert subject_hash("c-1", {"LODESTAR_ERASURE_SALT": "a"}) != subject_hash(
        "c-1", {"LODESTAR_ERASURE_SALT": "b"}
    )


def test_an_erasure_request_needs_a_valid_id_and_a_requester() -> None:
    with pytest.raises(ValidationError):
        ErasureRequest(customer_id="c 1; DROP", requested_by="x")
    with pytest.raises(ValidationError):
        ErasureRequest(customer_id="c-1", requested_by="")
