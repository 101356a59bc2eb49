"""Risk engine: hand-checked small portfolios, then properties on random ones."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from itertools import pairwise

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.forecast import forecast
from engines.risk import (
    SEVERITY_FORMULAS,
    CrossTeamChain,
    Risk,
    RiskKind,
    RiskReport,
    assess_risks,
    critical_path_analysis,
    expected_remaining_effort,
)
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Objective,
    Portfolio,
    Product,
    Release,
    Request,
    Segment,
    Team,
)

AS_OF = date(2025, 1, 6)


def team(
    team_id: str, *, headcount: int = 4, capacity: float = 2.0, history: list[float] | None = None
) -> Team:
    return Team(
        id=team_id,
        name=f"Team {team_id}",
        headcount=headcount,
        capacity=capacity,
        throughput_history=history or [],
    )


def feature(
    feature_id: str,
    team_id: str | None = "t1",
    *,
    effort: float | tuple[float, float, float] = 1.0,
    status: FeatureStatus = FeatureStatus.PLANNED,
    progress: float = 0.0,
    depends_on: list[str] | None = None,
    target_in_days: int | None = None,
    objective_ids: list[str] | None = None,
    release_id: str | None = None,
) -> Feature:
    low, likely, high = effort if isinstance(effort, tuple) else (effort, effort, effort)
    return Feature(
        id=feature_id,
        name=f"Feature {feature_id}",
        product_id="p1",
        team_id=team_id,
        status=status,
        effort_low=low,
        effort_likely=likely,
        effort_high=high,
        progress=progress,
        depends_on=depends_on or [],
        target_date=None if target_in_days is None else AS_OF + timedelta(days=target_in_days),
        objective_ids=objective_ids or [],
        release_id=release_id,
    )


def customer(customer_id: str, arr: float, *, renewal_in_days: int | None = None) -> Customer:
    return Customer(
        id=customer_id,
        name=f"Customer {customer_id}",
        arr=arr,
        segment=Segment.MID_MARKET,
        renewal_date=None if renewal_in_days is None else AS_OF + timedelta(days=renewal_in_days),
    )


def requests(*pairs: tuple[str, str]) -> list[Request]:
    return [Request(customer_id=c, feature_id=f) for c, f in pairs]


def portfolio(**collections: object) -> Portfolio:
    return Portfolio.model_validate(
        {
            "products": [Product(id="p1", name="Product")],
            "objectives": [Objective(id="o1", name="Objective")],
            "releases": [Release(id="r1", name="Release", date=AS_OF + timedelta(weeks=8))],
            **collections,
        }
    )


def assess(
    pf: Portfolio,
    *,
    p85_by_feature: dict[str, date] | None = None,
    p50_by_feature: dict[str, date] | None = None,
    horizon_weeks: int = 26,
    min_chain_handoffs: int = 2,
) -> RiskReport:
    return assess_risks(
        pf,
        as_of=AS_OF,
        p85_by_feature=p85_by_feature or {},
        p50_by_feature=p50_by_feature,
        horizon_weeks=horizon_weeks,
        min_chain_handoffs=min_chain_handoffs,
    )


def only(report: RiskReport, kind: RiskKind) -> list[Risk]:
    return report.of_kind(kind)


def by_first_id(risks: list[Risk]) -> dict[str, Risk]:
    return {risk.affected_ids[0]: risk for risk in risks}


# --- critical path -------------------------------------------------------------------------------


def diamond() -> Portfolio:
    # Team t1 delivers mean(1, 3) = 2 person-weeks per week (history beats capacity 5).
    # Remaining PERT effort:  A = 2;  B = (3 + 4*5 + 13) / 6 = 6;  C = 2;  D = 8 * (1 - 0.5) = 4.
    # Durations in weeks:     A = 1,  B = 3,  C = 1,  D = 2.
    # Forward:  A 0..1,  B 1..4,  C 1..2,  D max(4, 2)..6  -> length 6 weeks.
    # Backward: D LF 6 LS 4;  B LF 4 LS 1;  C LF 4 LS 3;  A LF min(1, 3) = 1 LS 0.
    # Float:    A 0,  B 0,  C 4 - 2 = 2,  D 0  -> critical path A -> B -> D.
    # The done feature E (a prerequisite of C) is finished and adds nothing.
    return portfolio(
        teams=[team("t1", capacity=5.0, history=[1.0, 3.0])],
        features=[
            feature("A", effort=2.0),
            feature("B", effort=(3.0, 5.0, 13.0), depends_on=["A"], target_in_days=14),
            feature("C", effort=2.0, depends_on=["A", "E"]),
            feature("D", effort=8.0, progress=0.5, depends_on=["B", "C"], target_in_days=28),
            feature("E", effort=50.0, status=FeatureStatus.DONE),
        ],
    )


def test_critical_path_and_float_on_a_diamond() -> None:
    analysis = critical_path_analysis(diamond())
    assert analysis.duration_weeks == pytest.approx({"A": 1.0, "B": 3.0, "C": 1.0, "D": 2.0})
    assert analysis.length_weeks == pytest.approx(6.0)
    assert analysis.critical_path == ["A", "B", "D"]
    assert analysis.float_weeks == pytest.approx({"A": 0.0, "B": 0.0, "C": 2.0, "D": 0.0})

    report = assess(diamond())
    assert report.critical_path == ["A", "B", "D"]
    assert report.critical_path_weeks == pytest.approx(6.0)
    assert report.critical_path_end == AS_OF + timedelta(days=42)
    assert "E" not in report.float_weeks


def test_critical_path_severity_from_lateness_against_latest_target() -> None:
    report = assess(diamond())
    # The path ends at week 6; its latest target (D) is week 4: 2 weeks late -> 2 / 13.
    (path_risk,) = only(report, RiskKind.CRITICAL_PATH)
    assert path_risk.severity == pytest.approx(2 / 13)
    assert path_risk.affected_ids == ["A", "B", "D"]
    assert path_risk.severity_formula == SEVERITY_FORMULAS[RiskKind.CRITICAL_PATH]

    # Zero float: A, B, D (not C).  severity = max(own lateness / 13, path severity * duration / 6):
    #   A: no target -> (2/13) * (1/6) = 1/39;
    #   B: finishes week 4, target week 2 -> 2/13 (> (2/13) * (3/6));
    #   D: finishes week 6, target week 4 -> 2/13.
    zero_float = by_first_id(only(report, RiskKind.ZERO_FLOAT))
    assert sorted(zero_float) == ["A", "B", "D"]
    assert zero_float["A"].severity == pytest.approx(1 / 39)
    assert zero_float["B"].severity == pytest.approx(2 / 13)
    assert zero_float["D"].severity == pytest.approx(2 / 13)
    assert zero_float["D"].affected_ids == ["D", "t1"]


def test_critical_path_on_time_has_zero_severity() -> None:
    pf = diamond()
    # Move every target past week 6: the path is on time.
    on_time = pf.model_copy(
        update={
            "features": [
                f.model_copy(update={"target_date": AS_OF + timedelta(weeks=10)}) if f.target_date else f
                for f in pf.features
            ]
        }
    )
    (path_risk,) = only(assess(on_time), RiskKind.CRITICAL_PATH)
    assert path_risk.severity == 0.0


def test_equal_parallel_paths_are_both_zero_float_and_the_path_takes_smallest_ids() -> None:
    # A(1) -> {C(2), B(2)} -> D(1) at 1 person-week per week (capacity 1, no history):
    # both branches end at week 3, so A, B, C, D all have zero float; ties pick B over C.
    pf = portfolio(
        teams=[team("t1", capacity=1.0)],
        features=[
            feature("A", effort=1.0),
            feature("C", effort=2.0, depends_on=["A"]),
            feature("B", effort=2.0, depends_on=["A"]),
            feature("D", effort=1.0, depends_on=["C", "B"]),
        ],
    )
    report = assess(pf)
    assert report.critical_path == ["A", "B", "D"]
    assert report.critical_path_weeks == pytest.approx(4.0)
    assert report.float_weeks == {"A": 0.0, "B": 0.0, "C": 0.0, "D": 0.0}
    assert sorted(by_first_id(only(report, RiskKind.ZERO_FLOAT))) == ["A", "B", "C", "D"]


def test_dependency_cycle_is_rejected() -> None:
    pf = portfolio(
        teams=[team("t1")],
        features=[feature("A", depends_on=["B"]), feature("B", depends_on=["A"])],
    )
    with pytest.raises(ValueError, match="cycle"):
        assess(pf)


# --- cross-team chains ---------------------------------------------------------------------------


def test_cross_team_chain_counts_handoffs() -> None:
    # A(t1) -> B(t2) -> C(t1): 2 hand-offs, severity 2 / (2 + 2) = 0.5.
    # X(t1) -> Y(t1) stays in one team and is no chain risk.
    pf = portfolio(
        teams=[team("t1"), team("t2")],
        features=[
            feature("A", "t1"),
            feature("B", "t2", depends_on=["A"]),
            feature("C", "t1", depends_on=["B"]),
            feature("X", "t1"),
            feature("Y", "t1", depends_on=["X"]),
        ],
    )
    report = assess(pf)
    assert report.cross_team_chains == [
        CrossTeamChain(feature_ids=["A", "B", "C"], owner_ids=["t1", "t2", "t1"], handoffs=2)
    ]
    (chain_risk,) = only(report, RiskKind.CROSS_TEAM_CHAIN)
    assert chain_risk.severity == pytest.approx(0.5)
    assert chain_risk.affected_ids == ["A", "B", "C", "t1", "t2"]


def test_chain_prefers_more_handoffs_over_more_features() -> None:
    # Into D(t2):  A(t1) -> E(t2) -> F(t1) -> D(t2)         3 hand-offs, 4 features
    #              A(t1) -> B(t1) -> C(t1) -> G(t1) -> D(t2) 1 hand-off,  5 features
    # The DP keeps the first: 3 hand-offs, severity 3 / 5.
    pf = portfolio(
        teams=[team("t1"), team("t2")],
        features=[
            feature("A", "t1"),
            feature("E", "t2", depends_on=["A"]),
            feature("F", "t1", depends_on=["E"]),
            feature("B", "t1", depends_on=["A"]),
            feature("C", "t1", depends_on=["B"]),
            feature("G", "t1", depends_on=["C"]),
            feature("D", "t2", depends_on=["F", "G"]),
        ],
    )
    report = assess(pf)
    assert [c.feature_ids for c in report.cross_team_chains] == [["A", "E", "F", "D"]]
    (chain_risk,) = only(report, RiskKind.CROSS_TEAM_CHAIN)
    assert chain_risk.severity == pytest.approx(3 / 5)
    # With a one-hand-off threshold the DP chain ending at D is still the only unextended one.
    assert [c.handoffs for c in assess(pf, min_chain_handoffs=1).cross_team_chains] == [3]


def test_chains_adding_no_new_handoff_are_not_repeated() -> None:
    # A(t1) -> B(t2) -> C(t1) then C -> D(t1) and C -> E(t1): the chains ending at D and E both
    # have hand-offs {A->B, B->C}; only the first by id (D) is reported.
    pf = portfolio(
        teams=[team("t1"), team("t2")],
        features=[
            feature("A", "t1"),
            feature("B", "t2", depends_on=["A"]),
            feature("C", "t1", depends_on=["B"]),
            feature("D", "t1", depends_on=["C"]),
            feature("E", "t1", depends_on=["C"]),
        ],
    )
    assert [c.feature_ids for c in assess(pf).cross_team_chains] == [["A", "B", "C", "D"]]


# --- team load -----------------------------------------------------------------------------------


def test_overloaded_team_and_team_under_capacity() -> None:
    # Horizon 10 weeks.
    # busy (capacity 1): available 10; committed b1 planned 6 + b2 in progress 16 * 0.5 = 8
    #   + b3 proposed but due in week 5 (inside the horizon) 6 = 20 -> ratio 2 -> clip(2 - 1) = 1.
    #   Not committed: b4 (proposed, no target), b5 (proposed, due week 20), b6 (done).
    # half (capacity 2): available 20; h1 planned 30 -> ratio 1.5 -> severity 0.5.
    # calm (capacity 2): available 20; c1 planned 10 -> ratio 0.5 -> no risk.
    pf = portfolio(
        teams=[team("busy", capacity=1.0), team("half", capacity=2.0), team("calm", capacity=2.0)],
        features=[
            feature("b1", "busy", effort=6.0),
            feature("b2", "busy", effort=16.0, progress=0.5, status=FeatureStatus.IN_PROGRESS),
            feature("b3", "busy", effort=6.0, status=FeatureStatus.PROPOSED, target_in_days=35),
            feature("b4", "busy", effort=100.0, status=FeatureStatus.PROPOSED),
            feature("b5", "busy", effort=100.0, status=FeatureStatus.PROPOSED, target_in_days=140),
            feature("b6", "busy", effort=50.0, status=FeatureStatus.DONE),
            feature("h1", "half", effort=30.0),
            feature("c1", "calm", effort=10.0),
        ],
    )
    report = assess(pf, horizon_weeks=10)
    loads = {load.team_id: load for load in report.team_loads}
    assert loads["busy"].committed_feature_ids == ["b1", "b2", "b3"]
    assert loads["busy"].committed_effort == pytest.approx(20.0)
    assert loads["busy"].available_effort == pytest.approx(10.0)
    assert loads["busy"].load_ratio == pytest.approx(2.0)
    assert loads["half"].load_ratio == pytest.approx(1.5)
    assert loads["calm"].load_ratio == pytest.approx(0.5)

    overload = by_first_id(only(report, RiskKind.TEAM_OVERLOAD))
    assert sorted(overload) == ["busy", "half"]
    assert overload["busy"].severity == pytest.approx(1.0)
    assert overload["half"].severity == pytest.approx(0.5)
    assert overload["busy"].affected_ids == ["busy", "b1", "b2", "b3"]


def test_team_without_capacity_but_committed_work_is_fully_overloaded() -> None:
    pf = portfolio(teams=[team("idle", capacity=0.0)], features=[feature("i1", "idle", effort=3.0)])
    report = assess(pf)
    assert report.team_loads[0].load_ratio is None
    (risk,) = only(report, RiskKind.TEAM_OVERLOAD)
    assert risk.severity == 1.0


# --- ownership -----------------------------------------------------------------------------------


def test_unowned_and_single_owner_features() -> None:
    # Total ARR 200; big (100) requests u2 -> its requesting share is 0.5.
    # u1: proposed, unowned, no demand  -> 0.3 + 0.4 * 0   = 0.3
    # u2: planned, unowned, share 0.5   -> 0.6 + 0.4 * 0.5 = 0.8
    # solo (headcount 1) owns s1, s2    -> 0.5 + 0.5 * 0   = 0.5
    # ghost (headcount 0) owns g1       -> 0.8 + 0.5 * 0   = 0.8
    # retired (headcount 1) has only done work, pair (headcount 2) is fine: no risks.
    pf = portfolio(
        teams=[
            team("solo", headcount=1),
            team("ghost", headcount=0),
            team("retired", headcount=1),
            team("pair", headcount=2),
        ],
        features=[
            feature("u1", None, status=FeatureStatus.PROPOSED),
            feature("u2", None),
            feature("s2", "solo"),
            feature("s1", "solo", status=FeatureStatus.PROPOSED),
            feature("g1", "ghost"),
            feature("r1", "retired", status=FeatureStatus.DONE),
            feature("q1", "pair"),
        ],
        customers=[customer("big", 100.0), customer("small", 100.0)],
        requests=requests(("big", "u2")),
    )
    report = assess(pf)
    unowned = by_first_id(only(report, RiskKind.UNOWNED))
    assert sorted(unowned) == ["u1", "u2"]
    assert unowned["u1"].severity == pytest.approx(0.3)
    assert unowned["u2"].severity == pytest.approx(0.8)
    assert unowned["u2"].arr_at_stake == pytest.approx(100.0)

    single = by_first_id(only(report, RiskKind.SINGLE_OWNER))
    assert sorted(single) == ["ghost", "solo"]
    assert single["solo"].affected_ids == ["solo", "s1", "s2"]
    assert single["solo"].severity == pytest.approx(0.5)
    assert single["ghost"].severity == pytest.approx(0.8)


# --- revenue -------------------------------------------------------------------------------------


def test_arr_at_risk_when_renewal_precedes_p85() -> None:
    # f1 P85 day 60, P50 day 35; f2 P85 day 5.  Total ARR 120 + 60 + 420 + 600 = 1200.
    # early (120, renews day 30) wants f1      -> at risk (60 > 30), also at P50 (35 > 30).
    # third (60, renews day 40) wants f1, f2   -> at risk via f1 only; not at P50 (35 < 40).
    # late (420, renews day 90) wants f1       -> safe (60 < 90).
    # big (600, renews day 10) wants f2        -> safe (5 < 10).
    # ARR at risk 180, share 0.15 -> severity 0.15 / 0.25 = 0.6; at P50: 120.
    pf = portfolio(
        teams=[team("t1")],
        features=[feature("f1"), feature("f2")],
        customers=[
            customer("early", 120.0, renewal_in_days=30),
            customer("third", 60.0, renewal_in_days=40),
            customer("late", 420.0, renewal_in_days=90),
            customer("big", 600.0, renewal_in_days=10),
        ],
        requests=requests(("early", "f1"), ("third", "f1"), ("third", "f2"), ("late", "f1"), ("big", "f2")),
    )
    report = assess(
        pf,
        p85_by_feature={"f1": AS_OF + timedelta(days=60), "f2": AS_OF + timedelta(days=5)},
        p50_by_feature={"f1": AS_OF + timedelta(days=35), "f2": AS_OF + timedelta(days=3)},
    )
    assert report.total_arr == pytest.approx(1200.0)
    assert report.arr_at_risk == pytest.approx(180.0)
    assert report.arr_at_risk_p50 == pytest.approx(120.0)
    assert [c.customer_id for c in report.customers_at_risk] == ["early", "third"]
    assert report.customers_at_risk[1].late_feature_ids == ["f1"]
    (risk,) = only(report, RiskKind.ARR_AT_RISK)
    assert risk.severity == pytest.approx(0.6)
    assert risk.arr_at_stake == pytest.approx(180.0)
    assert risk.affected_ids == ["early", "third", "f1"]


def test_customer_concentration() -> None:
    # Total ARR 600 + 100 + 100 + 100 + 50 + 50 = 1000.
    # w: whale (600, requested twice) -> share 0.6  -> clip(0.6 / 0.5) = 1.0
    # m: b (100) + d (50)              -> share 0.15 -> 0.15 / 0.5 = 0.3
    # n: d (50)                        -> share 0.05 < 0.10 -> not flagged
    pf = portfolio(
        teams=[team("t1")],
        features=[feature("w"), feature("m"), feature("n")],
        customers=[
            customer("whale", 600.0),
            customer("a", 100.0),
            customer("b", 100.0),
            customer("c", 100.0),
            customer("d", 50.0),
            customer("e", 50.0),
        ],
        requests=requests(("whale", "w"), ("whale", "w"), ("d", "m"), ("b", "m"), ("d", "n")),
    )
    concentration = by_first_id(only(assess(pf), RiskKind.CUSTOMER_CONCENTRATION))
    assert sorted(concentration) == ["m", "w"]
    assert concentration["w"].severity == pytest.approx(1.0)
    assert concentration["w"].arr_at_stake == pytest.approx(600.0)
    assert concentration["w"].affected_ids == ["w", "whale"]
    assert concentration["m"].severity == pytest.approx(0.3)
    assert concentration["m"].affected_ids == ["m", "b", "d"]


# --- demand vs plan ------------------------------------------------------------------------------


def test_demanded_unplanned_and_planned_undemanded() -> None:
    # Total ARR 50 + 950 = 1000; team t1 delivers 2 person-weeks per week; horizon 26 weeks.
    # p1: proposed, no release, wanted by fan (50)  -> demanded, unplanned: 0.05 / 0.25 = 0.2
    # p2: proposed but in release r1; p3 planned and requested -> fine.
    # q1: planned, no request, no objective, 13 person-weeks = 6.5 weeks of t1 -> 6.5 / 26 = 0.25
    # q2: in progress with an objective; q3 planned and requested; q4 proposed and unrequested -> fine.
    pf = portfolio(
        teams=[team("t1", capacity=2.0)],
        features=[
            feature("p1", status=FeatureStatus.PROPOSED),
            feature("p2", status=FeatureStatus.PROPOSED, release_id="r1"),
            feature("p3"),
            feature("q1", effort=13.0),
            feature("q2", status=FeatureStatus.IN_PROGRESS, objective_ids=["o1"]),
            feature("q3"),
            feature("q4", status=FeatureStatus.PROPOSED),
        ],
        customers=[customer("fan", 50.0), customer("rest", 950.0)],
        requests=requests(("fan", "p1"), ("fan", "p2"), ("fan", "p3"), ("fan", "q3")),
    )
    report = assess(pf)
    demanded = by_first_id(only(report, RiskKind.DEMANDED_UNPLANNED))
    assert sorted(demanded) == ["p1"]
    assert demanded["p1"].severity == pytest.approx(0.2)
    assert demanded["p1"].affected_ids == ["p1", "fan"]
    undemanded = by_first_id(only(report, RiskKind.UNDEMANDED_PLANNED))
    assert sorted(undemanded) == ["q1"]
    assert undemanded["q1"].severity == pytest.approx(0.25)
    assert expected_remaining_effort(pf.features[3]) == pytest.approx(13.0)


# --- report shape --------------------------------------------------------------------------------


def test_report_sorting_counts_and_top() -> None:
    report = assess(diamond())
    keys = [(-r.severity, r.kind.value, r.affected_ids[0]) for r in report.risks]
    assert keys == sorted(keys)
    assert report.counts[RiskKind.ZERO_FLOAT] == 3
    assert sum(report.counts.values()) == len(report.risks)
    assert set(report.counts) == set(RiskKind)
    assert report.top(2) == report.risks[:2]
    assert report.top(0) == []
    with pytest.raises(ValueError, match="horizon"):
        assess(diamond(), horizon_weeks=0)


# --- properties on random small portfolios -------------------------------------------------------

SMALL_VALUES = st.sampled_from([0.0, 0.5, 1.0, 3.0])


@st.composite
def random_portfolios(draw: st.DrawFn) -> tuple[Portfolio, dict[str, date]]:
    teams = [
        Team(
            id=f"t{i}",
            name=f"T{i}",
            headcount=draw(st.integers(0, 3)),
            capacity=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0])),
            throughput_history=draw(st.lists(st.sampled_from([0.0, 1.0, 2.5]), max_size=3)),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    team_choices = [None, *(t.id for t in teams)]
    features: list[Feature] = []
    for i in range(draw(st.integers(0, 9))):
        low = draw(SMALL_VALUES)
        likely = low + draw(SMALL_VALUES)
        high = likely + draw(SMALL_VALUES)
        features.append(
            Feature(
                id=f"f{i}",
                name=f"F{i}",
                product_id="p1",
                team_id=draw(st.sampled_from(team_choices)),
                status=draw(st.sampled_from(list(FeatureStatus))),
                effort_low=low,
                effort_likely=likely,
                effort_high=high,
                progress=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
                target_date=draw(st.none() | st.integers(-30, 200).map(lambda d: AS_OF + timedelta(days=d))),
                depends_on=sorted(draw(st.sets(st.sampled_from([f"f{j}" for j in range(i)]), max_size=3)))
                if i
                else [],
                objective_ids=draw(st.sampled_from([[], ["o1"]])),
                release_id=draw(st.sampled_from([None, "r1"])),
            )
        )
    customers = [
        Customer(
            id=f"c{i}",
            name=f"C{i}",
            arr=draw(st.sampled_from([0.0, 10.0, 100.0, 1000.0])),
            segment=Segment.SMB,
            renewal_date=draw(st.none() | st.integers(0, 300).map(lambda d: AS_OF + timedelta(days=d))),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    request_list = (
        [
            Request(customer_id=f"c{c}", feature_id=f"f{f}")
            for c, f in draw(
                st.lists(
                    st.tuples(st.integers(0, len(customers) - 1), st.integers(0, len(features) - 1)),
                    max_size=10,
                )
            )
        ]
        if customers and features
        else []
    )
    pf = portfolio(teams=teams, features=features, customers=customers, requests=request_list)
    p85 = {
        f.id: AS_OF + timedelta(days=draw(st.integers(0, 300)))
        for f in features
        if f.status != FeatureStatus.DONE
    }
    return pf, p85


def all_ids(pf: Portfolio) -> set[str]:
    collections = (pf.products, pf.teams, pf.features, pf.customers, pf.objectives, pf.releases)
    return {entity.id for collection in collections for entity in collection}


def assert_chains_are_dependency_paths(pf: Portfolio, report: RiskReport) -> None:
    features = {f.id: f for f in pf.features}
    team_ids = {t.id for t in pf.teams}
    for chain in report.cross_team_chains:
        assert all(features[f].status != FeatureStatus.DONE for f in chain.feature_ids)
        assert all(a in features[b].depends_on for a, b in pairwise(chain.feature_ids))
        owners = [features[f].team_id if features[f].team_id in team_ids else None for f in chain.feature_ids]
        assert chain.owner_ids == owners
        assert chain.handoffs == sum(a != b for a, b in pairwise(owners))


def cpm_length_by_networkx(pf: Portfolio, durations: dict[str, float]) -> float:
    """Longest path with each edge weighted by its head's duration, from a source before every feature."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for feature_id, weeks in durations.items():
        graph.add_edge("<start>", feature_id, weight=weeks)
    for f in pf.features:
        for prerequisite in f.depends_on:
            if prerequisite in durations and f.id in durations:
                graph.add_edge(prerequisite, f.id, weight=durations[f.id])
    return float(nx.dag_longest_path_length(graph, weight="weight")) if durations else 0.0


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_portfolios(), st.integers(1, 40), st.randoms(use_true_random=False))
def test_properties_on_random_portfolios(
    drawn: tuple[Portfolio, dict[str, date]], horizon_weeks: int, rng: random.Random
) -> None:
    pf, p85 = drawn
    report = assess_risks(pf, as_of=AS_OF, p85_by_feature=p85, horizon_weeks=horizon_weeks)

    valid = all_ids(pf)
    for risk in report.risks:
        assert 0.0 <= risk.severity <= 1.0
        assert risk.severity_formula == SEVERITY_FORMULAS[risk.kind]
        assert set(risk.affected_ids) <= valid, risk
        assert risk.affected_ids
        assert risk.arr_at_stake is None or risk.arr_at_stake >= 0
    keys = [r.sort_key() for r in report.risks]
    assert keys == sorted(keys)
    assert sum(report.counts.values()) == len(report.risks)
    assert 0.0 <= report.arr_at_risk <= report.total_arr + 1e-9

    open_ids = {f.id for f in pf.features if f.status != FeatureStatus.DONE}
    assert set(report.float_weeks) == open_ids
    assert all(slack >= 0 for slack in report.float_weeks.values())
    analysis = critical_path_analysis(pf)
    assert report.critical_path_weeks == pytest.approx(cpm_length_by_networkx(pf, analysis.duration_weeks))
    path = report.critical_path
    assert bool(path) == bool(open_ids)
    assert all(report.float_weeks[f] == 0.0 for f in path)
    features = {f.id: f for f in pf.features}
    assert all(a in features[b].depends_on for a, b in pairwise(path))
    assert_chains_are_dependency_paths(pf, report)
    assert math.fsum(analysis.duration_weeks[f] for f in path) == pytest.approx(report.critical_path_weeks)

    # Deterministic, and independent of the order the snapshot lists things in.
    assert assess_risks(pf, as_of=AS_OF, p85_by_feature=p85, horizon_weeks=horizon_weeks) == report
    shuffled = pf.model_copy(
        update={
            "teams": rng.sample(pf.teams, len(pf.teams)),
            "features": rng.sample(pf.features, len(pf.features)),
            "customers": rng.sample(pf.customers, len(pf.customers)),
            "requests": rng.sample(pf.requests, len(pf.requests)),
        }
    )
    assert assess_risks(shuffled, as_of=AS_OF, p85_by_feature=p85, horizon_weeks=horizon_weeks) == report


def test_larger_random_portfolio_matches_networkx_longest_path() -> None:
    rng = random.Random(11)
    teams = [team(f"t{i}", headcount=rng.randint(1, 6), capacity=rng.uniform(0.5, 4)) for i in range(30)]
    features = [
        feature(
            f"f{i:04d}",
            rng.choice([None, *(t.id for t in teams)]),
            effort=rng.uniform(0.5, 10),
            status=rng.choice(list(FeatureStatus)),
            depends_on=sorted({f"f{rng.randrange(max(0, i - 50), i):04d}" for _ in range(rng.randint(0, 3))})
            if i
            else [],
        )
        for i in range(1500)
    ]
    customers = [
        customer(f"c{i}", rng.uniform(1, 1000), renewal_in_days=rng.randint(0, 400)) for i in range(3000)
    ]
    request_list = requests(
        *((f"c{rng.randrange(3000)}", f"f{rng.randrange(1500):04d}") for _ in range(15000))
    )
    pf = portfolio(teams=teams, features=features, customers=customers, requests=request_list)
    p85 = {
        f.id: AS_OF + timedelta(days=rng.randint(0, 500)) for f in features if f.status != FeatureStatus.DONE
    }

    report = assess_risks(pf, as_of=AS_OF, p85_by_feature=p85)
    analysis = critical_path_analysis(pf)
    assert report.critical_path_weeks == pytest.approx(cpm_length_by_networkx(pf, analysis.duration_weeks))
    valid = all_ids(pf)
    assert all(set(r.affected_ids) <= valid and 0 <= r.severity <= 1 for r in report.risks)
    assert report.arr_at_risk == pytest.approx(math.fsum(c.arr for c in report.customers_at_risk))
    assert report.cross_team_chains
    assert_chains_are_dependency_paths(pf, report)
    handoffs = [c.handoffs for c in report.cross_team_chains]
    assert handoffs == sorted(handoffs, reverse=True)
    assert min(handoffs) >= 2


# --- resource-aware critical path -----------------------------------------------------------------


def queued_portfolio(*, c_priority: int | None = None) -> Portfolio:
    # t1 delivers mean(1, 3) = 2 person-weeks a week: A 1 week, B 2 weeks, C 3 weeks; t2 delivers 2: D 1 week.
    # Dependencies only: A -> D is 2 weeks, C alone 3 weeks -> dependency path [C], 3 weeks.
    # t1 works A, B, C one at a time (delivery order by id): A -> B -> C, 6 weeks.
    features = [
        feature("A", effort=2.0),
        feature("B", effort=4.0),
        feature("C", effort=6.0),
        feature("D", "t2", effort=2.0, depends_on=["A"]),
    ]
    if c_priority is not None:
        features[2] = features[2].model_copy(update={"priority": c_priority})
    return portfolio(teams=[team("t1", history=[1.0, 3.0]), team("t2", capacity=2.0)], features=features)


def test_dependency_and_resource_critical_paths_side_by_side() -> None:
    report = assess(queued_portfolio())
    assert report.critical_path == report.dependency_critical_path == ["C"]
    assert report.critical_path_weeks == pytest.approx(3.0)
    assert report.resource_critical_path == ["A", "B", "C"]
    assert report.resource_critical_path_weeks == pytest.approx(6.0)
    assert report.resource_critical_path_end == AS_OF + timedelta(weeks=6)
    note = report.critical_path_note or ""
    assert "3.0 weeks" in note and "6.0 weeks" in note and "A -> B (t1)" in note and "B -> C (t1)" in note


def test_the_resource_critical_path_follows_the_delivery_order_of_priorities() -> None:
    # C has priority 0, so t1 works C first, then A and B; D waits for A: C -> A -> D is 3 + 1 + 1 = 5 weeks,
    # C -> A -> B is 3 + 1 + 2 = 6 weeks.
    report = assess(queued_portfolio(c_priority=0))
    assert report.resource_critical_path == ["C", "A", "B"]
    assert report.resource_critical_path_weeks == pytest.approx(6.0)


def test_the_resource_critical_path_matches_networkx_on_team_queues() -> None:
    rng = random.Random(5)
    teams = [team(f"t{i}", capacity=rng.uniform(0.5, 3)) for i in range(4)]
    features = [
        feature(
            f"f{i:03d}",
            rng.choice([None, *(t.id for t in teams)]),
            effort=rng.uniform(0.5, 8),
            status=rng.choice([FeatureStatus.PLANNED, FeatureStatus.PROPOSED, FeatureStatus.DONE]),
            depends_on=sorted({f"f{rng.randrange(max(0, i - 20), i):03d}" for _ in range(rng.randint(0, 2))})
            if i
            else [],
        )
        for i in range(120)
    ]
    features = [f.model_copy(update={"priority": rng.choice([None, 1, 2, 3])}) for f in features]
    pf = portfolio(teams=teams, features=features)
    report = assess(pf)
    durations = critical_path_analysis(pf).duration_weeks
    by_id = {f.id: f for f in pf.features}
    open_ids = [f.id for f in pf.features if f.status != FeatureStatus.DONE]

    def rank(feature_id: str) -> tuple[bool, int, str]:
        priority = by_id[feature_id].priority
        return priority is None, priority or 0, feature_id

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(["start", *open_ids])
    for feature_id in open_ids:
        graph.add_edge("start", feature_id, weight=durations[feature_id])
        for prerequisite in by_id[feature_id].depends_on:
            if prerequisite in durations:
                graph.add_edge(prerequisite, feature_id, weight=durations[feature_id])
    order = list(nx.lexicographical_topological_sort(graph.subgraph(open_ids), key=rank))
    for team_id in (t.id for t in teams):
        queue = [f for f in order if by_id[f].team_id == team_id]
        for earlier, later in pairwise(queue):
            graph.add_edge(earlier, later, weight=durations[later])
    assert report.resource_critical_path_weeks == pytest.approx(nx.dag_longest_path_length(graph))
    assert (report.resource_critical_path_weeks or 0) >= report.critical_path_weeks - 1e-9
    path = report.resource_critical_path or []
    assert math.fsum(durations[f] for f in path) == pytest.approx(report.resource_critical_path_weeks)
    assert all(graph.has_edge(a, b) for a, b in pairwise(path))


# --- expected ARR at risk -------------------------------------------------------------------------


def test_expected_arr_at_risk_weighs_arr_by_the_probability_of_missing_renewal() -> None:
    # a: 1000 x (1 - 0.9) = 100; b: 400 x (1 - 0.25) = 300; c has no renewal; d is sure (P = 1);
    # e has no open request (absent from the forecast's customers).
    pf = portfolio(
        teams=[team("t1")],
        features=[feature("f1")],
        customers=[
            customer("a", 1000.0, renewal_in_days=30),
            customer("b", 400.0, renewal_in_days=30),
            customer("c", 50.0),
            customer("d", 70.0, renewal_in_days=30),
            customer("e", 90.0, renewal_in_days=30),
        ],
        requests=requests(("a", "f1"), ("b", "f1"), ("c", "f1"), ("d", "f1")),
    )
    report = assess_risks(
        pf,
        as_of=AS_OF,
        p85_by_feature={"f1": AS_OF + timedelta(days=60)},
        renewal_probability_by_customer={"a": 0.9, "b": 0.25, "c": None, "d": 1.0},
    )
    assert report.expected_arr_at_risk == pytest.approx(400.0)
    expected = report.customers_expected_at_risk or []
    assert [(c.customer_id, c.miss_probability) for c in expected] == [
        ("b", pytest.approx(0.75)),
        ("a", pytest.approx(0.1)),
    ]
    assert [c.expected_arr_at_risk for c in expected] == [pytest.approx(300.0), pytest.approx(100.0)]
    (risk,) = only(report, RiskKind.ARR_AT_RISK)
    assert "Expected ARR at risk (ARR x P(miss renewal)): 400" in risk.detail
    assert assess(pf, p85_by_feature={"f1": AS_OF}).expected_arr_at_risk is None


def test_expected_arr_at_risk_is_stable_between_seeds_where_the_p85_rule_flips() -> None:
    # One customer renews on the seed-0 P85 date of its only feature, so the P85 rule counts it in or out
    # by a day depending on the seed, while ARR x P(miss renewal) hardly moves.
    pf = portfolio(
        teams=[team("t1", capacity=2.0, history=[1.5, 2.5, 2.0, 1.0, 3.0, 2.0])],
        features=[feature("f1", effort=(18.0, 20.0, 26.0))],
        customers=[customer("c1", 1_000_000.0)],
        requests=requests(("c1", "f1")),
    )
    renewal = forecast(pf, as_of=AS_OF, trials=4000, seed=0).feature("f1").p85
    assert renewal is not None
    pf = pf.model_copy(update={"customers": [pf.customers[0].model_copy(update={"renewal_date": renewal})]})
    rule: list[float] = []
    expected: list[float] = []
    for seed in range(12):
        result = forecast(pf, as_of=AS_OF, trials=4000, seed=seed)
        report = assess_risks(
            pf,
            as_of=AS_OF,
            p85_by_feature=result.p85_by_feature(),
            renewal_probability_by_customer={
                c.customer_id: c.probability_before_renewal for c in result.customers
            },
        )
        rule.append(report.arr_at_risk)
        expected.append(report.expected_arr_at_risk or 0.0)
    assert set(rule) == {0.0, 1_000_000.0}  # the P85 rule flips between seeds
    assert max(expected) - min(expected) < 0.05 * 1_000_000.0
    assert all(0.10 * 1_000_000.0 < e < 0.20 * 1_000_000.0 for e in expected)
