"""Answering nested fields at once from settled DataLoaders, the look-ahead's selection walk, and the
views the result reader keeps per report."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader

from api.loading import load_many_now, load_now, selected, subselection, then
from api.portfolio_cache import PortfolioCache
from api.result_reader import KeptReport
from graph.entity_reads import Lookup


def counting_loader(fail: set[str] | None = None) -> tuple[DataLoader[str, str], list[list[str]]]:
    batches: list[list[str]] = []

    async def load(keys: list[str]) -> list[str | BaseException]:
        batches.append(list(keys))
        return [ValueError(key) if key in (fail or set()) else key.upper() for key in keys]

    return DataLoader(load_fn=load), batches


async def test_a_settled_key_answers_at_once_and_a_new_one_batches() -> None:
    loader, batches = counting_loader()
    pending = load_now(loader, "a")
    assert inspect.isawaitable(pending)
    assert await pending == "A"
    assert load_now(loader, "a") == "A"  # no awaitable, no statement
    assert load_many_now(loader, ["a"]) == ["A"]
    mixed = load_many_now(loader, ["a", "b", "c"])
    assert inspect.isawaitable(mixed)
    assert await mixed == ["A", "B", "C"]
    assert batches == [["a"], ["b", "c"]]


async def test_a_failed_or_unfinished_load_is_not_taken_as_settled() -> None:
    loader, batches = counting_loader(fail={"bad"})
    with pytest.raises(ValueError, match="bad"):
        await loader.load("bad")
    retried = load_now(loader, "bad")
    assert inspect.isawaitable(retried)  # the failed future is awaited again, never read as a value
    with pytest.raises(ValueError, match="bad"):
        await retried
    in_flight = loader.load("x")
    assert inspect.isawaitable(load_now(loader, "x"))
    await in_flight
    assert batches == [["bad"], ["x"]]


async def test_then_applies_now_or_after_awaiting_and_flattens_a_second_lookup() -> None:
    loader, _ = counting_loader()
    assert then(3, lambda value: value + 1) == 4
    later = then(loader.load("k"), lambda value: value * 2)
    assert inspect.isawaitable(later) and await later == "KK"
    chained = then(loader.load("m"), lambda value: load_now(loader, value.lower() + "2"))
    assert (
        inspect.isawaitable(chained) and await chained == "M2"
    )  # one awaitable, not an awaitable of an awaitable
    assert then("K", lambda value: load_now(loader, value.lower())) == "K"


@strawberry.type
class Leaf:
    id: str


@strawberry.type
class Node:
    id: str

    @strawberry.field
    def child(self) -> Leaf:
        return Leaf(id="c")


seen: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def nodes(self, info: strawberry.Info) -> list[Node]:
        selections = selected(info)
        seen.append(
            {
                "child": subselection(selections, "child"),
                "child.id": subselection(selections, "child", "id"),
                "missing": subselection(selections, "nope"),
            }
        )
        return [Node(id="n")]


async def test_the_selection_walk_merges_aliases_and_fragments() -> None:
    schema = strawberry.Schema(Query)
    document = """
    query { nodes { id first: child { id } ...More ... on Node { child { __typename } } } }
    fragment More on Node { child { id } }
    """
    seen.clear()
    result = await schema.execute(document)
    assert result.errors is None
    [walked] = seen
    assert walked["missing"] is None
    assert walked["child"] is not None
    names = sorted(getattr(selection, "name", "") for selection in walked["child"])
    assert names == ["__typename", "id", "id"]  # from the aliased field, the fragment and the inline fragment
    assert walked["child.id"] == []  # selected, with no selections of its own
    seen.clear()
    await schema.execute("{ nodes { id } }")
    assert seen[0]["child"] is None


def test_what_is_built_from_a_kept_report_is_built_once() -> None:
    kept = KeptReport(report=2, cited_ids=[])
    builds: list[int] = []

    def double(report: int) -> int:
        builds.append(report)
        return report * 2

    assert kept.built(double) == kept.built(double) == 4
    assert builds == [2]


def test_the_portfolio_cache_answers_only_for_its_revision() -> None:
    cache = PortfolioCache(max_entries=3)
    cache.put("r1", Lookup.FEATURE_WITH_PREREQUISITES, ["a", "gone"], {"a": 1, "prerequisite": 2})
    assert cache.get("r1", Lookup.FEATURE, ["a", "gone", "prerequisite", "other"]) == {
        "a": 1,
        "gone": None,  # known to be missing at r1
        "prerequisite": 2,
    }
    assert cache.get("r2", Lookup.FEATURE, ["a"]) == {} and cache.get(None, Lookup.FEATURE, ["a"]) == {}
    cache.put(None, Lookup.TEAM, ["t"], {"t": 3})  # read before any revision: not kept
    assert cache.get("r1", Lookup.TEAM, ["t"]) == {}
    cache.put("r2", Lookup.TEAM, ["t"], {"t": 3})  # a newer revision replaces everything
    assert cache.revision == "r2" and cache.get("r2", Lookup.FEATURE, ["a"]) == {}
    cache.put("r2", Lookup.DEMAND, ["x", "y", "z"], {})  # over max_entries: starts over
    assert cache.get("r2", Lookup.TEAM, ["t"]) == {} and cache.get("r2", Lookup.DEMAND, ["x"]) == {"x": None}
