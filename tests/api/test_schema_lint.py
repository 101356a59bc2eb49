"""Every part of the schema a client sees is described: a walk over the built schema (no tools needed),
and `graphql-schema-linter` (npm) over the committed SDL, as a frontend developer's tooling would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import graphql
import pytest
import strawberry

from api.schema import build_schema
from api.settings import ApiSettings

SDL_PATH = Path(__file__).resolve().parents[2] / "api" / "schema.graphql"

LINTER_RULES = (
    "types-have-descriptions",
    "fields-have-descriptions",
    "arguments-have-descriptions",
    "enum-values-have-descriptions",
    "input-object-values-have-descriptions",
    "deprecations-have-a-reason",
)


def undescribed(schema: graphql.GraphQLSchema) -> list[str]:
    """Every type, field, argument, enum value and input field without a description."""
    missing: list[str] = []
    for name, named in sorted(schema.type_map.items()):
        if name.startswith("__") or graphql.is_specified_scalar_type(named):
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                if field.deprecation_reason == "":
                    missing.append(f"{name}.{field_name} (deprecation reason)")
                missing += [
                    f"{name}.{field_name}({arg_name})"
                    for arg_name, arg in field.args.items()
                    if not arg.description
                ]
        elif isinstance(named, graphql.GraphQLInputObjectType):
            missing += [
                f"{name}.{field_name}" for field_name, field in named.fields.items() if not field.description
            ]
        elif isinstance(named, graphql.GraphQLEnumType):
            missing += [
                f"{name}.{value_name}" for value_name, value in named.values.items() if not value.description
            ]
    return missing


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing = undescribed(build_schema(ApiSettings(), tracing=False)._schema)
    assert not missing, "describe these in the schema's code:\n" + "\n".join(missing)


@strawberry.type(description="Described.")
class Shelf:
    width: int = strawberry.field(description="Centimetres.")
    depth: int


@strawberry.type(name="Query")
class ShelfQuery:
    @strawberry.field(description="A shelf.")
    def shelf(self, position: int) -> Shelf:
        return Shelf(width=position, depth=position)


def test_the_walk_finds_what_lacks_a_description() -> None:
    assert undescribed(strawberry.Schema(query=ShelfQuery)._schema) == [
        "Query",
        "Query.shelf(position)",
        "Shelf.depth",
    ]


def _linter_tools() -> tuple[str, str] | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but node/npm are missing: the SDL lint cannot be skipped in CI")
        return None
    return node, npm


@pytest.mark.timeout(240)
def test_committed_sdl_passes_graphql_schema_linter(tmp_path: Path) -> None:
    tools = _linter_tools()
    if tools is None:
        pytest.skip(
            "node and npm are not installed: graphql-schema-linter cannot run (the walk above still does)"
        )
    _, npm = tools
    install = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(tmp_path),
            "graphql-schema-linter@3",
            "graphql@16",
        ],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert install.returncode == 0, f"npm install failed:\n{install.stdout}\n{install.stderr}"
    linter = tmp_path / "node_modules" / ".bin" / "graphql-schema-linter"

    def run_linter(sdl: Path) -> subprocess.CompletedProcess[str]:
        # Run from the temporary folder so that no linter configuration of a parent folder applies.
        return subprocess.run(
            [str(linter), "--config-directory", str(tmp_path), "--rules", ",".join(LINTER_RULES), str(sdl)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )

    lint = run_linter(SDL_PATH)
    assert lint.returncode == 0, f"graphql-schema-linter found problems:\n{lint.stdout}\n{lint.stderr}"
    assert "0 errors detected" in lint.stdout, lint.stdout
    # The same run on a schema with an undescribed field does fail.
    undescribed_sdl = tmp_path / "undescribed.graphql"
    undescribed_sdl.write_text('"""The root."""\ntype Query {\n  shelf: Int\n}\n')
    refused = run_linter(undescribed_sdl)
    assert refused.returncode != 0 and "Query.shelf" in refused.stdout, refused.stdout
