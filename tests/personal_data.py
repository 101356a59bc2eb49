"""A portfolio with personal data in its feedback, and the personal data to scan for (privacy tests)."""

from __future__ import annotations

from graph.portfolio import Feedback, Portfolio

PERSONAL_FEEDBACK_PREFIX = "fb-personal-"
PHONE_PREFIX = "+1 415 555 01"


def personal_email(customer_id: str) -> str:
    return f"jane.doe.{customer_id}@example-customer.com"


def with_personal_feedback(portfolio: Portfolio, *, customers: int | None = None) -> Portfolio:
    """`portfolio` plus one feedback entry per customer (the `customers` largest, or all) that names the
    customer and holds an email and a phone number."""
    chosen = sorted(portfolio.customers, key=lambda c: (-c.arr, c.id))[:customers]
    feature_ids = [f.id for f in portfolio.features]
    extra = [
        Feedback(
            id=f"{PERSONAL_FEEDBACK_PREFIX}{index}",
            customer_id=customer.id,
            feature_id=feature_ids[index % len(feature_ids)],
            text=(
                f"This is Jane from {customer.name}: without it we leave. "
                f"Mail {personal_email(customer.id)} or call {PHONE_PREFIX}{index % 100:02d}."
            ),
            sentiment=-0.9,
        )
        for index, customer in enumerate(chosen)
    ]
    return portfolio.model_copy(update={"feedback": [*portfolio.feedback, *extra]})


def personal_data(portfolio: Portfolio) -> list[str]:
    """Every customer name, and the emails and phone numbers `with_personal_feedback` wrote."""
    emails = [
        personal_email(f.customer_id) for f in portfolio.feedback if f.id.startswith(PERSONAL_FEEDBACK_PREFIX)
    ]
    return [*(c.name for c in portfolio.customers), *emails, PHONE_PREFIX]
