"""A seeded, believable B2B SaaS portfolio for demos, tests and benchmarks.

`generate_portfolio(seed, scale, anchor)` is deterministic: the same arguments give an identical
Portfolio. Dates are placed relative to `anchor` ("now"). Every value is valid by construction, so the
entities are built with `model_construct` (no per-field validation), which keeps the `large` scale fast;
the tests check the result against the models and `graph.validation.integrity_issues`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

import numpy as np

from graph.demo_feedback import FeedbackTruth, TopicFeature, generate_feedback, topics_for
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Feedback,
    Objective,
    Portfolio,
    Product,
    Release,
    Request,
    Segment,
    Team,
)


@dataclass(frozen=True)
class DemoScale:
    """How many of each entity a generated portfolio holds."""

    products: int
    teams: int
    features: int
    customers: int
    requests: int
    feedback: int
    objectives: int


SCALES: dict[str, DemoScale] = {
    "small": DemoScale(
        products=3, teams=10, features=120, customers=400, requests=1_500, feedback=300, objectives=6
    ),
    "medium": DemoScale(
        products=5, teams=100, features=2_000, customers=10_000, requests=50_000, feedback=4_000, objectives=8
    ),
    "large": DemoScale(
        products=8,
        teams=1_000,
        features=20_000,
        customers=100_000,
        requests=500_000,
        feedback=20_000,
        objectives=8,
    ),
}

ENTERPRISE_MIN_ARR = 150_000.0
MID_MARKET_MIN_ARR = 25_000.0


@dataclass(frozen=True)
class _ProductTheme:
    name: str
    slug: str
    description: str
    nouns: tuple[str, ...]


_PRODUCTS: tuple[_ProductTheme, ...] = (
    _ProductTheme(
        "Atlas Analytics",
        "atlas",
        "Self-serve dashboards and reporting on product and revenue data.",
        (
            "cohort reports",
            "custom dashboards",
            "scheduled exports",
            "funnel charts",
            "anomaly alerts",
            "SQL editor",
            "retention curves",
            "embedded charts",
            "metric definitions",
            "report sharing",
            "data freshness indicators",
            "drill-down tables",
        ),
    ),
    _ProductTheme(
        "Beacon Billing",
        "beacon",
        "Subscription billing, invoicing and revenue recognition.",
        (
            "usage-based pricing",
            "invoice PDFs",
            "dunning emails",
            "tax calculation",
            "multi-currency invoices",
            "credit notes",
            "proration rules",
            "payment retries",
            "revenue schedules",
            "quote-to-cash flow",
            "customer portal",
            "coupon codes",
        ),
    ),
    _ProductTheme(
        "Compass CRM",
        "compass",
        "Pipeline, contacts and sales engagement for B2B teams.",
        (
            "pipeline board",
            "lead scoring",
            "email sequences",
            "deal forecasts",
            "contact deduplication",
            "territory rules",
            "call logging",
            "account hierarchies",
            "meeting scheduler",
            "activity timeline",
            "win-loss reasons",
            "quota tracking",
        ),
    ),
    _ProductTheme(
        "Delta Data Platform",
        "delta",
        "Ingestion, transformation and governance for customer data.",
        (
            "CDC connectors",
            "schema registry",
            "data lineage",
            "pipeline scheduler",
            "column-level masking",
            "backfill jobs",
            "warehouse sync",
            "data contracts",
            "row-level security",
            "quality checks",
            "partitioned tables",
            "ingestion monitoring",
        ),
    ),
    _ProductTheme(
        "Ember Engage",
        "ember",
        "Lifecycle email, in-app messages and customer journeys.",
        (
            "journey builder",
            "A/B tests",
            "in-app banners",
            "send-time optimisation",
            "template library",
            "audience segments",
            "unsubscribe centre",
            "push notifications",
            "frequency caps",
            "deliverability reports",
            "SMS channel",
            "event triggers",
        ),
    ),
    _ProductTheme(
        "Fathom Forecasting",
        "fathom",
        "Demand and revenue forecasting for finance teams.",
        (
            "scenario planning",
            "driver-based models",
            "forecast accuracy reports",
            "seasonality detection",
            "budget versions",
            "variance analysis",
            "headcount plans",
            "what-if sliders",
            "rolling forecasts",
            "board packs",
            "currency conversion",
            "approval workflow",
        ),
    ),
    _ProductTheme(
        "Harbor HR",
        "harbor",
        "People operations: onboarding, time off and performance reviews.",
        (
            "onboarding checklists",
            "time-off policies",
            "review cycles",
            "org chart",
            "goal tracking",
            "payroll export",
            "employee directory",
            "e-signature",
            "compensation bands",
            "pulse surveys",
            "document vault",
            "offboarding flow",
        ),
    ),
    _ProductTheme(
        "Ion Identity",
        "ion",
        "Authentication, authorisation and user management as a service.",
        (
            "passkeys",
            "MFA enrolment",
            "session management",
            "social login",
            "password policies",
            "user impersonation",
            "login risk scoring",
            "directory sync",
            "token rotation",
            "admin delegation",
            "consent records",
            "device trust",
        ),
    ),
)

_SHARED_NOUNS: tuple[str, ...] = (
    "SSO login",
    "audit log",
    "role-based permissions",
    "API rate limits",
    "webhooks",
    "mobile app",
    "Salesforce sync",
    "Slack notifications",
    "bulk import",
    "GDPR data export",
    "SCIM provisioning",
    "search",
    "admin console",
    "EU data residency",
    "public API",
)

VERBS: tuple[str, ...] = (
    "Add",
    "Improve",
    "Redesign",
    "Automate",
    "Speed up",
    "Rebuild",
    "Support",
    "Introduce",
    "Extend",
    "Simplify",
    "Localise",
    "Harden",
)

_QUALIFIERS: tuple[str, ...] = (
    "",
    "",
    "",
    "",
    " for enterprise admins",
    " (phase 2)",
    " on mobile",
    " for large accounts",
    " v2",
)

_TEAM_AREAS: tuple[str, ...] = (
    "Platform",
    "Payments",
    "Search",
    "Reporting",
    "Mobile",
    "Integrations",
    "Identity",
    "Notifications",
    "Data Pipeline",
    "Onboarding",
    "Growth",
    "Insights",
    "Workflow",
    "Public API",
    "Infrastructure",
    "Security",
    "Admin Console",
    "Dashboards",
    "Messaging",
    "Billing Engine",
    "Core Services",
    "Frontend",
    "Storage",
    "Compliance",
    "Experimentation",
    "Developer Experience",
    "Localisation",
    "Performance",
    "Reliability",
    "Connectors",
)

_TEAM_CODENAMES: tuple[str, ...] = (
    "Falcon",
    "Birch",
    "Cobalt",
    "Juniper",
    "Kestrel",
    "Maple",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Raven",
    "Sequoia",
    "Tundra",
    "Umber",
    "Vertex",
    "Willow",
    "Zephyr",
    "Aspen",
    "Basalt",
    "Cedar",
    "Drift",
    "Ember",
    "Fjord",
    "Granite",
    "Heron",
    "Indigo",
    "Jade",
    "Lynx",
    "Meridian",
    "Nova",
    "Orca",
    "Pine",
    "Quill",
    "Ridge",
    "Summit",
    "Tide",
)

_OBJECTIVES: tuple[str, ...] = (
    "Grow enterprise ARR",
    "Reduce mid-market churn",
    "Win the analytics category",
    "Improve trial-to-paid conversion",
    "Platform reliability at 99.95%",
    "Expand into EMEA",
    "Launch self-serve upgrades",
    "Cut support tickets per account",
)

_COMPANY_FIRST: tuple[str, ...] = (
    "Northwind",
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Gringotts",
    "Oceanic",
    "Pied Piper",
    "Blue Harbor",
    "Redwood",
    "Silver Lake",
    "Evergreen",
    "Brightpath",
    "Clearwater",
    "Ironclad",
    "Lumen",
    "Meadowbrook",
    "Northstar",
    "Oakridge",
    "Pinnacle",
    "Quantum",
    "Riverside",
    "Summit Peak",
    "Trailhead",
    "Unity",
    "Vantage",
    "Westfield",
    "Yellowstone",
    "Zenith",
    "Alpine",
    "Bayview",
    "Cascade",
)

_COMPANY_SECOND: tuple[str, ...] = (
    "Logistics",
    "Health",
    "Labs",
    "Systems",
    "Foods",
    "Capital",
    "Retail",
    "Energy",
    "Media",
    "Robotics",
    "Insurance",
    "Pharma",
    "Freight",
    "Software",
    "Bank",
    "Hotels",
    "Motors",
    "Telecom",
    "Education",
    "Outdoors",
)

_COMPANY_LEGAL: tuple[str, ...] = ("Inc.", "Ltd", "GmbH", "LLC", "S.A.", "B.V.", "Group", "Co.")

_STATUS_SHARES: tuple[tuple[FeatureStatus, float], ...] = (
    # In delivery order: prerequisites always sit earlier in this list.
    (FeatureStatus.DONE, 0.15),
    (FeatureStatus.IN_PROGRESS, 0.15),
    (FeatureStatus.PLANNED, 0.35),
    (FeatureStatus.PROPOSED, 0.35),
)


def generate_portfolio(seed: int = 7, scale: str = "small", anchor: date | None = None) -> Portfolio:
    """A deterministic demo portfolio; `anchor` (default: today) is "now" for every date."""
    return generate_portfolio_with_feedback_truth(seed, scale, anchor)[0]


def generate_portfolio_with_feedback_truth(
    seed: int = 7, scale: str = "small", anchor: date | None = None
) -> tuple[Portfolio, list[FeedbackTruth]]:
    """`generate_portfolio`, with each feedback item's true feature and topic (never written to the graph)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    size = SCALES[scale]
    if size.products > len(_PRODUCTS):
        raise ValueError(f"at most {len(_PRODUCTS)} products are available")
    generator = _Generator(np.random.default_rng(seed), size, anchor or date.today())
    portfolio = generator.build()
    return portfolio, generator.feedback_truth


class _Generator:
    def __init__(self, rng: np.random.Generator, size: DemoScale, anchor: date) -> None:
        self.rng = rng
        self.size = size
        self.anchor = anchor
        self.themes = _PRODUCTS[: size.products]
        self.feedback_truth: list[FeedbackTruth] = []
        weights = 1.0 / np.sqrt(np.arange(1, size.products + 1))
        self.product_weights = weights / weights.sum()

    def build(self) -> Portfolio:
        products = self._products()
        teams, team_products = self._teams()
        objectives = self._objectives()
        releases = self._releases()
        features = self._features(teams, team_products, objectives, releases)
        customers = self._customers()
        requests = self._requests(customers, features)
        feedback = self._feedback(requests, features)
        return Portfolio.model_construct(
            products=products,
            teams=teams,
            features=features,
            customers=customers,
            objectives=objectives,
            releases=releases,
            requests=requests,
            feedback=feedback,
        )

    def _products(self) -> list[Product]:
        return [
            Product.model_construct(id=f"prod-{theme.slug}", name=theme.name, description=theme.description)
            for theme in self.themes
        ]

    def _teams(self) -> tuple[list[Team], list[int]]:
        """Teams, and the product each team mostly works on."""
        teams: list[Team] = []
        home_products: list[int] = []
        for index in range(self.size.teams):
            area = _TEAM_AREAS[index % len(_TEAM_AREAS)]
            round_number = index // len(_TEAM_AREAS)
            if round_number == 0:
                name = area
            else:
                codename = _TEAM_CODENAMES[(round_number - 1) % len(_TEAM_CODENAMES)]
                cycle = (round_number - 1) // len(_TEAM_CODENAMES)
                name = f"{codename} {area}" + (f" {cycle + 1}" if cycle else "")
            headcount = int(self.rng.integers(3, 10))
            capacity = round(0.7 * headcount, 1)
            weeks = int(self.rng.integers(12, 27))
            noise = self.rng.normal(1.0, 0.25, size=weeks)
            history = [round(max(0.0, capacity * float(factor)), 1) for factor in noise]
            teams.append(
                Team.model_construct(
                    id=f"team-{_slug(name)}",
                    name=name,
                    headcount=headcount,
                    capacity=capacity,
                    throughput_history=history,
                )
            )
            home_products.append(index % self.size.products)
        return teams, home_products

    def _objectives(self) -> list[Objective]:
        names = self.rng.permutation(len(_OBJECTIVES))[: self.size.objectives]
        objectives: list[Objective] = []
        for number, name_index in enumerate(names, start=1):
            quarters_ahead = int(self.rng.integers(1, 5))
            objectives.append(
                Objective.model_construct(
                    id=f"obj-{number}",
                    name=_OBJECTIVES[int(name_index)],
                    weight=float(self.rng.integers(1, 6)),
                    due_date=_quarter_end(self.anchor, quarters_ahead),
                )
            )
        return objectives

    def _releases(self) -> list[Release]:
        """One release per product per quarter, from two quarters ago to four quarters ahead."""
        releases: list[Release] = []
        for theme in self.themes:
            for offset in range(-2, 5):
                end = _quarter_end(self.anchor, offset)
                quarter = (end.month - 1) // 3 + 1
                releases.append(
                    Release.model_construct(
                        id=f"rel-{theme.slug}-{end.year}-q{quarter}",
                        name=f"{theme.name} {end.year}.Q{quarter}",
                        product_id=f"prod-{theme.slug}",
                        date=end,
                    )
                )
        return releases

    def _features(
        self,
        teams: list[Team],
        team_products: list[int],
        objectives: list[Objective],
        releases: list[Release],
    ) -> list[Feature]:
        rng = self.rng
        count = self.size.features
        width = max(4, len(str(count)))
        statuses = self._statuses(count)
        product_of = rng.choice(self.size.products, size=count, p=self.product_weights)
        teams_by_product = [
            [team for team, home in zip(teams, team_products, strict=True) if home == product]
            for product in range(self.size.products)
        ]
        releases_by_product = {
            product_id: sorted(
                (release for release in releases if release.product_id == product_id), key=lambda r: r.date
            )
            for product_id in {release.product_id for release in releases}
        }
        likely_effort = np.clip(np.round(rng.lognormal(np.log(6.0), 0.7, size=count) * 2) / 2, 0.5, 80.0)
        low_factor = rng.uniform(0.5, 0.9, size=count)
        high_factor = rng.uniform(1.3, 2.5, size=count)
        team_roll = rng.random(count)
        dependency_roll = rng.random(count)
        priorities = self._priorities(statuses)
        reach = np.round(rng.lognormal(np.log(400.0), 1.0, size=count)).tolist()
        impact = rng.choice([0.25, 0.5, 1.0, 2.0, 3.0], size=count, p=[0.1, 0.25, 0.35, 0.2, 0.1]).tolist()
        confidence = rng.choice([0.5, 0.8, 1.0], size=count, p=[0.3, 0.5, 0.2]).tolist()
        objective_count = rng.choice(3, size=count, p=[0.4, 0.45, 0.15])
        first_objective = rng.integers(len(objectives), size=count)
        # A second objective distinct from the first: shift by 1..n-1 places.
        second_objective = (first_objective + rng.integers(1, max(2, len(objectives)), size=count)) % len(
            objectives
        )

        features: list[Feature] = []
        ids_by_product: list[list[str]] = [[] for _ in range(self.size.products)]
        feature_ids = [f"feat-{number:0{width}d}" for number in range(1, count + 1)]
        for index in range(count):
            product = int(product_of[index])
            theme = self.themes[product]
            status = statuses[index]
            likely = float(likely_effort[index])
            low = min(likely, round(likely * float(low_factor[index]), 1))
            high = max(likely, round(likely * float(high_factor[index]), 1))

            if team_roll[index] < 0.02:
                team_id = None
            elif team_roll[index] < 0.87 and teams_by_product[product]:
                team_id = teams_by_product[product][int(rng.integers(len(teams_by_product[product])))].id
            else:
                team_id = teams[int(rng.integers(len(teams)))].id

            depends_on = self._dependencies(
                index, product, ids_by_product, feature_ids, dependency_roll[index]
            )
            target_date = self._target_date(status)
            product_releases = releases_by_product[f"prod-{theme.slug}"]
            release_id = self._release_for(status, target_date, product_releases)
            objective_positions = [int(first_objective[index]), int(second_objective[index])]
            objective_ids = [
                objectives[position].id
                for position in sorted(objective_positions[: int(objective_count[index])])
            ]
            features.append(
                Feature.model_construct(
                    id=feature_ids[index],
                    name=self._feature_name(theme),
                    product_id=f"prod-{theme.slug}",
                    team_id=team_id,
                    status=status,
                    effort_low=low,
                    effort_likely=likely,
                    effort_high=high,
                    progress=self._progress(status),
                    target_date=target_date,
                    priority=priorities[index],
                    reach=reach[index],
                    impact=impact[index],
                    confidence=confidence[index],
                    depends_on=depends_on,
                    objective_ids=objective_ids,
                    release_id=release_id,
                )
            )
            ids_by_product[product].append(feature_ids[index])
        return features

    def _statuses(self, count: int) -> list[FeatureStatus]:
        """Statuses in delivery order (done first), so lower-index prerequisites are never less advanced."""
        shares = np.array([share for _, share in _STATUS_SHARES])
        drawn = self.rng.choice(len(_STATUS_SHARES), size=count, p=shares / shares.sum())
        return [_STATUS_SHARES[int(position)][0] for position in np.sort(drawn)]

    def _priorities(self, statuses: list[FeatureStatus]) -> list[int | None]:
        """Unique delivery ranks: in-progress work first, then planned, then half of the proposals."""
        ranked: list[int] = []
        for wanted in (FeatureStatus.IN_PROGRESS, FeatureStatus.PLANNED, FeatureStatus.PROPOSED):
            group = [index for index, status in enumerate(statuses) if status is wanted]
            if wanted is FeatureStatus.PROPOSED:
                group = [index for index in group if self.rng.random() < 0.5]
            ranked.extend(int(index) for index in self.rng.permutation(group))
        priorities: list[int | None] = [None] * len(statuses)
        for rank, index in enumerate(ranked, start=1):
            priorities[index] = rank
        return priorities

    def _dependencies(
        self,
        index: int,
        product: int,
        ids_by_product: list[list[str]],
        feature_ids: list[str],
        roll: float,
    ) -> list[str]:
        """About 30% of features depend on 1-3 earlier features, mostly recent ones of the same product."""
        if index == 0 or roll >= 0.3:
            return []
        wanted = int(self.rng.integers(1, 4))
        chosen: list[str] = []
        for _ in range(wanted * 3):
            if len(chosen) == wanted:
                break
            same_product = ids_by_product[product]
            if same_product and self.rng.random() < 0.7:
                back = min(len(same_product), int(self.rng.geometric(0.15)))
                candidate = same_product[-back]
            else:
                candidate = feature_ids[int(self.rng.integers(index))]
            if candidate not in chosen:
                chosen.append(candidate)
        return chosen

    def _target_date(self, status: FeatureStatus) -> date | None:
        chance, weeks_low, weeks_high = {
            FeatureStatus.IN_PROGRESS: (0.8, 2, 17),
            FeatureStatus.PLANNED: (0.6, 6, 41),
            FeatureStatus.PROPOSED: (0.05, 20, 61),
            FeatureStatus.DONE: (0.0, 0, 1),
        }[status]
        if self.rng.random() >= chance:
            return None
        return self.anchor + timedelta(weeks=int(self.rng.integers(weeks_low, weeks_high)))

    def _release_for(
        self, status: FeatureStatus, target_date: date | None, product_releases: list[Release]
    ) -> str | None:
        if status is FeatureStatus.DONE:
            past = [release for release in product_releases if release.date < self.anchor]
            if past and self.rng.random() < 0.7:
                return past[int(self.rng.integers(len(past)))].id
            return None
        if target_date is None:
            return None
        for release in product_releases:
            if release.date >= target_date:
                return release.id
        return None

    def _progress(self, status: FeatureStatus) -> float:
        if status is FeatureStatus.DONE:
            return 1.0
        if status is FeatureStatus.IN_PROGRESS:
            return round(float(self.rng.uniform(0.1, 0.9)), 2)
        return 0.0

    def _feature_name(self, theme: _ProductTheme) -> str:
        nouns = theme.nouns + _SHARED_NOUNS
        verb = VERBS[int(self.rng.integers(len(VERBS)))]
        noun = nouns[int(self.rng.integers(len(nouns)))]
        qualifier = _QUALIFIERS[int(self.rng.integers(len(_QUALIFIERS)))]
        return f"{verb} {noun}{qualifier}"

    def _customers(self) -> list[Customer]:
        rng = self.rng
        count = self.size.customers
        width = max(4, len(str(count)))
        arr = self._arr(count)
        renewal_days = rng.integers(0, 548, size=count)
        health = np.round(rng.beta(5.0, 2.0, size=count), 2)
        first = rng.integers(len(_COMPANY_FIRST), size=count)
        second = rng.integers(len(_COMPANY_SECOND), size=count)
        legal = rng.integers(len(_COMPANY_LEGAL), size=count)
        primary = rng.choice(self.size.products, size=count, p=self.product_weights)
        segments = [_segment_for(value) for value in arr.tolist()]
        extra_chance = np.array(
            [
                {Segment.ENTERPRISE: 0.5, Segment.MID_MARKET: 0.25, Segment.SMB: 0.08}[segment]
                for segment in segments
            ]
        )
        # Which products each customer uses, as a bit mask: its primary product plus a few more.
        uses = rng.random((count, self.size.products)) < extra_chance[:, None]
        uses[np.arange(count), primary] = True
        masks = uses @ (1 << np.arange(self.size.products))
        product_ids_by_mask = [
            [f"prod-{theme.slug}" for bit, theme in enumerate(self.themes) if mask >> bit & 1]
            for mask in range(1 << self.size.products)
        ]
        renewal_dates = [self.anchor + timedelta(days=days) for days in renewal_days.tolist()]
        customers: list[Customer] = []
        for index, (value, segment, mask) in enumerate(
            zip(arr.tolist(), segments, cast(list[int], masks.tolist()), strict=True)
        ):
            customers.append(
                Customer.model_construct(
                    id=f"cust-{index + 1:0{width}d}",
                    name=f"{_COMPANY_FIRST[first[index]]} {_COMPANY_SECOND[second[index]]} "
                    f"{_COMPANY_LEGAL[legal[index]]}",
                    arr=value,
                    segment=segment,
                    renewal_date=renewal_dates[index],
                    health=float(health[index]),
                    product_ids=list(product_ids_by_mask[mask]),
                )
            )
        return customers

    def _arr(self, count: int) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
        """Heavy-tailed ARR: a few strategic accounts over $1M, an enterprise band, a long SMB tail."""
        rng = self.rng
        arr = np.clip(rng.lognormal(np.log(15_000.0), 0.8, size=count), 2_000.0, None)
        strategic = max(3, round(count * 0.008))
        enterprise = round(count * 0.05)
        chosen = rng.permutation(count)[: strategic + enterprise]
        arr[chosen[:strategic]] = 1_000_000.0 * (1.0 + rng.pareto(2.5, size=strategic))
        arr[chosen[strategic:]] = np.clip(
            rng.lognormal(np.log(250_000.0), 0.5, size=enterprise), 120_000, 950_000
        )
        return np.round(arr, -2)

    def _requests(self, customers: list[Customer], features: list[Feature]) -> list[Request]:
        """Each customer asks for 1-10 features of the products it uses; popular features get more asks."""
        rng = self.rng
        product_count = self.size.products
        product_index = {f"prod-{theme.slug}": position for position, theme in enumerate(self.themes)}
        feature_product = np.array(
            [product_index[feature.product_id] for feature in features], dtype=np.int64
        )
        shipped = np.array([feature.status is FeatureStatus.DONE for feature in features])
        members = [np.flatnonzero(feature_product == product) for product in range(product_count)]
        # Zipf-like popularity within each product; shipped features are asked for less.
        cumulative: list[np.ndarray[tuple[int], np.dtype[np.float64]]] = []
        for indices in members:
            weights = 1.0 / (rng.permutation(len(indices)) + 1.0) ** 1.1
            weights[shipped[indices]] *= 0.3
            cumulative.append(np.cumsum(weights) / weights.sum())

        # The products each customer asks about: the ones it uses that have features.
        choices = np.zeros((len(customers), product_count), dtype=np.int64)
        choice_count = np.zeros(len(customers), dtype=np.int64)
        available = np.zeros(len(customers), dtype=np.int64)
        with_features = [product for product in range(product_count) if len(members[product])]
        for position, customer in enumerate(customers):
            usable = [
                product_index[product_id]
                for product_id in customer.product_ids
                if len(members[product_index[product_id]])
            ] or with_features
            choices[position, : len(usable)] = usable
            choice_count[position] = len(usable)
            available[position] = sum(len(members[product]) for product in usable)
        per_customer = np.minimum(self._request_counts(len(customers)), available)

        slot_customer = np.repeat(np.arange(len(customers)), per_customer)
        slot_feature = np.full(len(slot_customer), -1, dtype=np.int64)
        pending = np.arange(len(slot_customer))
        for _ in range(50):
            if not pending.size:
                break
            customer_of = slot_customer[pending]
            picked = (rng.random(pending.size) * choice_count[customer_of]).astype(np.int64)
            product_of = choices[customer_of, picked]
            uniforms = rng.random(pending.size)
            for product in with_features:
                mask = product_of == product
                positions = np.searchsorted(cumulative[product], uniforms[mask], side="right")
                slot_feature[pending[mask]] = members[product][
                    np.minimum(positions, len(members[product]) - 1)
                ]
            # A customer asks for a feature once: keep the first slot of each pair, redraw the others.
            _, first_slots = np.unique(slot_customer * len(features) + slot_feature, return_index=True)
            repeated = np.ones(len(slot_customer), dtype=bool)
            repeated[first_slots] = False
            pending = np.flatnonzero(repeated)
        for slot in pending:  # rare leftovers: pick uniformly among the features not yet asked for
            customer_slots = slot_customer == slot_customer[slot]
            taken = set(slot_feature[customer_slots].tolist()) - {int(slot_feature[slot])}
            customer_choices = choices[slot_customer[slot], : choice_count[slot_customer[slot]]]
            candidates = [
                int(feature)
                for product in customer_choices
                for feature in members[int(product)]
                if int(feature) not in taken
            ]
            slot_feature[slot] = candidates[int(rng.integers(len(candidates)))]

        weights_drawn = rng.integers(1, 6, size=len(slot_customer)).tolist()
        days_ago = rng.integers(0, 540, size=len(slot_customer)).tolist()
        return [
            Request.model_construct(
                customer_id=customers[customer].id,
                feature_id=features[feature].id,
                weight=float(weight),
                requested_at=self.anchor - timedelta(days=days),
            )
            for customer, feature, weight, days in zip(
                slot_customer.tolist(), slot_feature.tolist(), weights_drawn, days_ago, strict=True
            )
        ]

    def _request_counts(self, count: int) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
        """Per-customer request counts in 1..10 summing exactly to the scale's request total."""
        total = self.size.requests
        if not count <= total <= 10 * count:
            raise ValueError(f"{total} requests cannot be spread as 1-10 per customer over {count} customers")
        mean_extra = (total - count) / count
        counts = 1 + self.rng.binomial(9, mean_extra / 9, size=count)
        difference = total - int(counts.sum())
        while difference != 0:
            step = 1 if difference > 0 else -1
            adjustable = np.flatnonzero(counts < 10) if step > 0 else np.flatnonzero(counts > 1)
            picked = self.rng.choice(adjustable, size=min(abs(difference), len(adjustable)), replace=False)
            counts[picked] += step
            difference = total - int(counts.sum())
        return counts

    def _feedback(self, requests: list[Request], features: list[Feature]) -> list[Feedback]:
        """Realistic comments about the requested features (graph.demo_feedback), mostly unlinked."""
        requested = sorted({request.feature_id for request in requests})
        names = {feature.id: feature.name for feature in features}
        customers_by_feature: dict[str, list[str]] = {}
        for request in requests:
            customers_by_feature.setdefault(request.feature_id, []).append(request.customer_id)
        seed = int(self.rng.integers(2**32))
        topic_rng = np.random.default_rng(seed)
        topics = topics_for([TopicFeature(id, names[id]) for id in requested], VERBS, topic_rng)
        feedback, self.feedback_truth = generate_feedback(
            count=self.size.feedback,
            topics=topics,
            customers_by_feature=customers_by_feature,
            all_customer_ids=sorted({request.customer_id for request in requests}),
            anchor=self.anchor,
            seed=seed + 1,
        )
        return feedback


def _segment_for(arr: float) -> Segment:
    if arr >= ENTERPRISE_MIN_ARR:
        return Segment.ENTERPRISE
    if arr >= MID_MARKET_MIN_ARR:
        return Segment.MID_MARKET
    return Segment.SMB


def _quarter_end(anchor: date, quarters_ahead: int) -> date:
    """Last day of the quarter `quarters_ahead` after the anchor's quarter (negative = past)."""
    quarter_index = anchor.year * 4 + (anchor.month - 1) // 3 + quarters_ahead
    year, quarter = divmod(quarter_index, 4)
    next_start = date(year + 1, 1, 1) if quarter == 3 else date(year, 3 * (quarter + 1) + 1, 1)
    return next_start - timedelta(days=1)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
