"""The schema itself: the committed SDL, the CLI that prints it, permissions on every field, and
executions through `schema.execute` with a hand-built context (no HTTP)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from strawberry.types.base import StrawberryObjectDefinition
from typer.testing import CliRunner

from api.auth import Principal, Role
from api.context import Loaders, RequestContext
from api.permissions import IsAdmin, IsViewer, TypedPermissionExtension
from api.schema import Mutation, Query, build_schema, schema_sdl
from api.settings import ApiMode, ApiSettings
from lodestar.cli import app
from tests.api.conftest import ApiGraph, make_services

SDL_PATH = Path(__file__).resolve().parents[2] / "api" / "schema.graphql"

MUTATION_ROLES = {
    "import_portfolio": Role.ADMIN,
    "start_scenario_simulation": Role.PLANNER,
    "start_roadmap_draft": Role.PLANNER,
    "start_risk_assessment": Role.PLANNER,
    "cancel_run": Role.PLANNER,
    "approve_roadmap": Role.APPROVER,
    "reject_roadmap": Role.APPROVER,
    "create_review_schedule": Role.ADMIN,
    "pause_review_schedule": Role.ADMIN,
    "unpause_review_schedule": Role.ADMIN,
    "delete_review_schedule": Role.ADMIN,
    "trigger_review_schedule": Role.ADMIN,
    "start_insight_run": Role.PLANNER,
    "confirm_feedback_link": Role.PLANNER,
    "reject_feedback_link": Role.PLANNER,
    "rename_theme": Role.PLANNER,
    "merge_themes": Role.PLANNER,
    "append_feedback": Role.PLANNER,
    "erase_customer": Role.ADMIN,
}
ADMIN_QUERIES = {"erasures"}
"""Query fields that need the admin role: the erasure log."""


def test_committed_sdl_matches_the_schema() -> None:
    committed = SDL_PATH.read_text()
    current = schema_sdl()
    if committed != current:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True), current.splitlines(keepends=True), "committed", "current"
            )
        )
        pytest.fail(
            "The GraphQL schema changed. If that is intended, run `lodestar schema > api/schema.graphql` "
            f"and commit it.\n{diff}"
        )


def test_cli_prints_the_sdl() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.output == schema_sdl()
    assert "type Query {" in result.output and "type Subscription {" in result.output


def _definition(cls: type) -> StrawberryObjectDefinition:
    definition = getattr(cls, "__strawberry_definition__", None)
    assert isinstance(definition, StrawberryObjectDefinition)
    return definition


def test_every_query_field_but_me_needs_the_viewer_role() -> None:
    for field in _definition(Query).fields:
        if field.python_name == "me":
            assert not field.permission_classes
        elif field.python_name in ADMIN_QUERIES:
            assert field.permission_classes == [IsAdmin], field.python_name
        else:
            assert field.permission_classes == [IsViewer], field.python_name


def test_every_mutation_carries_a_typed_role_check() -> None:
    fields = {field.python_name: field for field in _definition(Mutation).fields}
    assert set(fields) == set(MUTATION_ROLES)
    for name, field in fields.items():
        [check] = [ext for ext in field.extensions if isinstance(ext, TypedPermissionExtension)]
        [permission] = check.permissions
        assert permission.required_role is MUTATION_ROLES[name], name  # type: ignore[attr-defined]


def test_production_and_development_print_the_same_sdl() -> None:
    production = build_schema(ApiSettings(mode=ApiMode.PRODUCTION), tracing=False).as_str()
    development = build_schema(ApiSettings(mode=ApiMode.DEVELOPMENT), tracing=True).as_str()
    assert production == development


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_schema_execute_with_a_hand_built_context(api_graph: ApiGraph) -> None:
    services = make_services(api_graph)
    schema = build_schema(services.settings, tracing=False)

    def context(role: Role | None) -> RequestContext:
        principal = Principal(key_id="k", name="unit", role=role) if role is not None else None
        return RequestContext(services=services, loaders=Loaders(services.queries), principal=principal)

    query = '{ me { name role } team(id: "t-1") { name features { id } } }'
    result = await schema.execute(query, context_value=context(Role.VIEWER))
    assert result.errors is None
    assert result.data == {
        "me": {"name": "unit", "role": "VIEWER"},
        "team": {"name": "Core", "features": [{"id": "f-1"}, {"id": "f-2"}, {"id": "f-3"}]},
    }
    anonymous = await schema.execute(query, context_value=context(None))
    assert anonymous.data == {"me": None, "team": None}
    assert anonymous.errors is not None and anonymous.errors[0].extensions == {"code": "FORBIDDEN"}
    denied = await schema.execute(
        'mutation { cancelRun(id: "x") { __typename ... on PermissionDenied { requiredRole yourRole } } }',
        context_value=context(Role.VIEWER),
    )
    assert denied.data == {
        "cancelRun": {"__typename": "PermissionDenied", "requiredRole": "planner", "yourRole": "viewer"}
    }


def test_every_quarter_in_the_api_is_numbered_from_1() -> None:
    """One numbering for quarters in the whole API: the fields and inputs that carry one say so."""
    schema = build_schema(ApiSettings(), tracing=False)._schema
    carriers = {
        ("RoadmapItem", "quarter"),
        ("RoadmapQuarter", "index"),
        ("PinInput", "quarter"),
        ("SingleCustomerFeature", "quarter"),
    }
    for type_name, field_name in carriers:
        field = schema.type_map[type_name].fields[field_name]  # type: ignore[union-attr]
        assert "1-based" in (field.description or ""), (type_name, field_name)
    # Nothing else carries a quarter number unnoticed.
    quarter_fields = {
        (name, field_name)
        for name, named in schema.type_map.items()
        if not name.startswith("__") and hasattr(named, "fields")
        for field_name in named.fields  # type: ignore[attr-defined]
        if field_name == "quarter"
    }
    assert quarter_fields <= carriers
