"""Personal data masking and customer pseudonyms (agents.privacy), and the private toolset in a real run."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolReturnPart

from agents.deps import AnalysisDeps
from agents.privacy import (
    AMBIGUOUS_CUSTOMER_MASK,
    EMAIL_MASK,
    PHONE_MASK,
    Pseudonymiser,
    customer_token,
    mask_contact_details,
    reveal_customer_ids,
)
from agents.reports import Finding, RiskAnalysis
from agents.risk_agent import build_risk_agent, run_risk_assessment
from agents.snapshots import snapshots
from graph.portfolio import Customer, Feedback, Portfolio, Segment


def _customer(customer_id: str, name: str) -> Customer:
    return Customer(id=customer_id, name=name, arr=10_000, segment=Segment.SMB)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+crm@example.co.uk now", f"mail {EMAIL_MASK} now"),
        ("call +44 20 7946 0958 or 020-7946-0958", f"call {PHONE_MASK} or {PHONE_MASK}"),
        ("ring (555) 123-4567.", f"ring {PHONE_MASK}."),
        ("0049 30 1234567", PHONE_MASK),
        ("due 2025-04-01, 3 seats, $1,250,000 ARR, v2.10", "due 2025-04-01, 3 seats, $1,250,000 ARR, v2.10"),
        ("order 12345 of 2026", "order 12345 of 2026"),
    ],
)
def test_contact_details_are_masked_and_other_figures_kept(text: str, expected: str) -> None:
    assert mask_contact_details(text) == expected


def test_customer_names_become_stable_tokens_with_and_without_legal_suffix() -> None:
    pseudonymiser = Pseudonymiser(
        "snap-1",
        [_customer("cust-1", "Globex Corp."), _customer("cust-2", "Initech, LLC")],
    )
    globex, initech = customer_token("snap-1", "cust-1"), customer_token("snap-1", "cust-2")
    text = "GLOBEX corp. asked; globex again; Initech LLC too; Initech; Corp stays; Globexian stays."
    assert pseudonymiser.text(text) == (
        f"{globex}. asked; {globex} again; {initech} too; {initech}; Corp stays; Globexian stays."
    )
    assert globex.startswith("CUSTOMER_") and len(globex) == len("CUSTOMER_") + 8
    assert customer_token("snap-2", "cust-1") != globex, "tokens are per snapshot"
    assert pseudonymiser.customer_of(globex) == "cust-1"


def test_a_name_two_customers_share_is_masked_without_a_token() -> None:
    pseudonymiser = Pseudonymiser(
        "snap-1", [_customer("cust-1", "Blue Harbor Inc."), _customer("cust-2", "Blue Harbor GmbH")]
    )
    assert pseudonymiser.text("Blue Harbor wants it") == f"{AMBIGUOUS_CUSTOMER_MASK} wants it"
    assert pseudonymiser.text("Blue Harbor GmbH wants it") == (
        f"{customer_token('snap-1', 'cust-2')} wants it"
    )


def test_ids_pass_unchanged_and_text_is_pseudonymised_in_nested_values() -> None:
    pseudonymiser = Pseudonymiser("s", [_customer("hooli", "Hooli")])
    value = {
        "customer_id": "hooli",
        "items": [{"quoted_text": "Hooli: mail a@b.io"}],
        "feature_ids": ["hooli"],
    }
    assert pseudonymiser.value(value) == {
        "customer_id": "hooli",
        "items": [{"quoted_text": f"{customer_token('s', 'hooli')}: mail {EMAIL_MASK}"}],
        "feature_ids": ["hooli"],
    }


def test_stored_analysis_maps_tokens_back_to_customer_ids() -> None:
    portfolio = Portfolio(customers=[_customer("cust-1", "Globex Corp.")])
    token = customer_token("snap", "cust-1")
    analysis = RiskAnalysis(
        headline=f"{token} is exposed",
        findings=[
            Finding(statement=f"{token} renews soon; CUSTOMER_00000000 is unknown", evidence_ids=["cust-1"])
        ],
        recommendation="Call them.",
    )
    revealed = reveal_customer_ids(analysis, portfolio, "snap")
    assert revealed.headline == "cust-1 is exposed"
    assert revealed.findings[0].statement == "cust-1 renews soon; CUSTOMER_00000000 is unknown"


def _sent_to_model(messages: list[ModelMessage]) -> str:
    return "\n".join(
        part.model_response_str()
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    )


async def test_feedback_reaches_the_model_without_names_emails_or_phone_numbers(
    demo_portfolio: Portfolio,
) -> None:
    """The offline risk agent asks for the most exposed customer's feedback; that text names customers."""
    deps = AnalysisDeps(snapshot_id=snapshots.put(demo_portfolio), as_of=date(2026, 11, 23), trials=500)
    plain = await run_risk_assessment(deps)
    exposed = next(i for f in plain.analysis.findings for i in f.evidence_ids if i.startswith("cust-"))
    other = next(c for c in demo_portfolio.customers if c.id != exposed)
    exposed_name = next(c.name for c in demo_portfolio.customers if c.id == exposed)
    text = f"{exposed_name} here: we moved off {other.name}; reach me at ceo@{exposed}.example or +1 415 555 0100."
    feedback = Feedback(id="fb-private", customer_id=exposed, text=text, sentiment=-1.0)
    private = demo_portfolio.model_copy(update={"feedback": [*demo_portfolio.feedback, feedback]})
    private_deps = AnalysisDeps(snapshot_id=snapshots.put(private), as_of=deps.as_of, trials=500)
    agent = build_risk_agent()
    result = await agent.run("Assess risk.", deps=private_deps)
    sent = _sent_to_model(result.all_messages())
    assert "fb-private" in sent, "the feedback was fetched"
    for secret in (exposed_name, other.name, f"ceo@{exposed}.example", "415 555 0100"):
        assert secret not in sent
    assert customer_token(private_deps.snapshot_id, exposed) in sent
    assert not any(isinstance(m, ModelResponse) and exposed_name in str(m) for m in result.all_messages())
