"""Pure pieces of the API, checked by hand: cursors and page arguments, roles, keys, masking, failures."""

from __future__ import annotations

import pytest
from graphql import GraphQLError
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from api.auth import Role, new_api_key, parse_presented_key, verify
from api.errors import ForbiddenError, UserInputError
from api.extensions import should_mask
from api.pagination import decode_cursor, encode_cursor, page_request
from api.runs import describe_failure
from api.settings import ApiMode, ApiSettings
from graph.entity_reads import PageRequest

SETTINGS = ApiSettings(max_page_size=100, default_page_size=20)


def test_cursor_round_trip_and_rejection() -> None:
    assert decode_cursor(encode_cursor("feat-0042"), "after") == "feat-0042"
    assert encode_cursor("f-1") == "aWQ6Zi0x"  # base64("id:f-1")
    for bad in ("", "!!!", "Zm9v", "aWQ6"):  # not base64 / "foo" / "id:" with no id
        with pytest.raises(UserInputError, match="`after` is not a cursor"):
            decode_cursor(bad, "after")


def test_page_requests_from_relay_arguments() -> None:
    assert page_request(SETTINGS, first=None, after=None, last=None, before=None) == PageRequest(limit=20)
    assert page_request(SETTINGS, first=5, after=encode_cursor("b"), last=None, before=None) == PageRequest(
        limit=5, after="b"
    )
    assert page_request(SETTINGS, first=None, after=None, last=3, before=encode_cursor("x")) == PageRequest(
        limit=3, before="x", backward=True
    )
    assert page_request(
        SETTINGS, first=None, after=None, last=None, before=encode_cursor("x")
    ) == PageRequest(limit=20, before="x", backward=True)
    assert page_request(SETTINGS, first=100, after=None, last=None, before=None).limit == 100
    assert page_request(SETTINGS, first=0, after=None, last=None, before=None).limit == 0
    for first, last in ((101, None), (-1, None), (None, 101), (3, 3)):
        with pytest.raises(UserInputError):
            page_request(SETTINGS, first=first, after=None, last=last, before=None)
    with pytest.raises(UserInputError, match="`before` pages backward"):
        page_request(SETTINGS, first=2, after=None, last=None, before=encode_cursor("x"))


def test_roles_are_ordered() -> None:
    assert [role.rank for role in Role] == [0, 1, 2, 3]
    assert Role.ADMIN.includes(Role.APPROVER) and Role.APPROVER.includes(Role.PLANNER)
    assert Role.PLANNER.includes(Role.PLANNER)
    assert not Role.PLANNER.includes(Role.APPROVER) and not Role.VIEWER.includes(Role.PLANNER)


def test_keys_verify_only_their_own_secret() -> None:
    issued, stored = new_api_key("ci", Role.PLANNER)
    prefix, key_id, secret = issued.secret_key.split("_", 2)
    assert prefix == "lsk" and key_id == stored.id and len(key_id) == 16
    assert verify(stored, secret)
    assert not verify(stored, secret[:-1] + ("x" if secret[-1] != "x" else "y"))
    assert secret not in stored.model_dump_json()
    assert parse_presented_key(f"Bearer {issued.secret_key}") == issued.secret_key
    assert parse_presented_key(f"  bearer   {issued.secret_key} ") == issued.secret_key
    assert parse_presented_key(issued.secret_key) == issued.secret_key
    assert parse_presented_key(None) is None and parse_presented_key("  ") is None


def test_masking_keeps_client_and_document_errors() -> None:
    internal = GraphQLError("boom", path=["features"], original_error=RuntimeError("MATCH (n) ..."))
    assert should_mask(internal)
    meant = GraphQLError("bad", path=["features"], original_error=UserInputError("`first` must be ..."))
    assert not should_mask(meant)
    assert not should_mask(GraphQLError("x", path=["f"], original_error=ForbiddenError("no")))
    assert not should_mask(GraphQLError("Cannot query field 'x' on type 'Query'."))  # validation
    coercion = GraphQLError("Variable '$d' got invalid value", original_error=ValueError("Invalid isoformat"))
    assert not should_mask(coercion)  # no path: about the client's own variables


def test_failures_are_described_without_internals() -> None:
    def failure(cause: BaseException) -> WorkflowFailureError:
        error = WorkflowFailureError(cause=cause)  # type: ignore[arg-type]
        return error

    def activity_error(inner: ApplicationError) -> ActivityError:
        error = ActivityError(
            "activity failed",
            scheduled_event_id=1,
            started_event_id=2,
            identity="w",
            activity_type="persist",
            activity_id="1",
            retry_state=RetryState.NON_RETRYABLE_FAILURE,
        )
        error.__cause__ = inner
        return error

    user_facing = failure(activity_error(ApplicationError("pin on unknown feature f-9", type="RoadmapError")))
    assert describe_failure(user_facing).message == "pin on unknown feature f-9"
    assert describe_failure(user_facing).type == "RoadmapError"
    internal = failure(activity_error(ApplicationError("Neo.ClientError ... MATCH (n)", type="Neo4jError")))
    described = describe_failure(internal)
    assert described.type == "Failed" and "MATCH" not in described.message


def test_settings_from_environment() -> None:
    settings = ApiSettings.from_env({"LODESTAR_API_MODE": "development", "LODESTAR_API_MAX_DEPTH": "7"})
    assert settings.mode is ApiMode.DEVELOPMENT and settings.max_depth == 7 and settings.development
    assert ApiSettings.from_env({}).mode is ApiMode.PRODUCTION


def test_exporters_follow_the_otel_environment() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    from api.telemetry import span_processors, tracing_disabled

    def exporters(development: bool, environ: dict[str, str]) -> list[type]:
        processors = span_processors(development=development, environ=environ)
        try:
            return [type(processor.span_exporter) for processor in processors]  # type: ignore[attr-defined]
        finally:
            for processor in processors:
                processor.shutdown()

    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert exporters(False, {}) == []
    assert exporters(True, {}) == [ConsoleSpanExporter]
    assert exporters(False, otlp) == [OTLPSpanExporter]
    assert exporters(True, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/v1/traces"}) == [
        OTLPSpanExporter,
        ConsoleSpanExporter,
    ]
    assert tracing_disabled({"OTEL_SDK_DISABLED": "true"}) and not tracing_disabled({})
