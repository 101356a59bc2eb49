"""Lodestar's one model of a team's weekly throughput, used by the forecast and the roadmap planner.

Units: throughput in person-weeks delivered per week; time in weeks.

The default model (`ThroughputKind.POSTERIOR`) carries the uncertainty of the team's true rate, not only its
week-to-week noise. Per team it forms a conjugate normal / scaled-inverse-chi-square posterior over the
team's mean weekly throughput mu and weekly variance sigma^2 from the recorded `throughput_history`, with a
weakly-informative prior centred on the team's nominal `capacity` (`ThroughputPrior`). Per trial it draws

1. sigma^2 = dof x scale^2 / chi^2(dof)                                 (the weekly variance),
2. mu ~ Gamma with mean = posterior mean and variance sigma^2 / mean_weight (the rate; never negative),
3. every week, throughput = mu x LogNormal(mean 1, variance sigma^2 / mu^2) (non-negative weekly noise).

So a long backlog, whose completion depends mostly on the rate, is as uncertain as the history is short,
and a team with no history (n = 0) is forecast from the prior alone: a rate around its capacity with a
coefficient of variation of about `weekly_cv / sqrt(mean_weight)` and weekly noise of about `weekly_cv`.

`ThroughputKind.BOOTSTRAP` is the former model, kept for comparison and hand-checked scheduling tests: each
week re-samples one recorded week (a team with no history delivers exactly its capacity every week).

Random numbers: one stream per team for its per-trial rate (`RATE_BLOCK`) and one per team and block of
`WEEK_BLOCK` weeks for the weekly noise, each seeded from (seed, team id[, block]) - the same streams the
forecast uses, so `delivered_quantile` / `probability_delivered` agree with the forecast for the same seed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from graph.portfolio import Team

FloatArray = npt.NDArray[np.float64]

WEEK_BLOCK = 13
"""Weeks of weekly noise drawn at a time: a run only pays for the weeks it reaches."""

RATE_BLOCK = 2**31 - 1
"""The block number of a team's per-trial rate stream (weekly blocks count up from 0)."""

TEAM_STREAM = 2


class ThroughputKind(StrEnum):
    POSTERIOR = "posterior"
    """Rate uncertainty from a posterior with a prior on capacity, plus weekly noise (the default)."""
    BOOTSTRAP = "bootstrap"
    """Each week re-samples a recorded week; constant capacity without history (the former model)."""


@dataclass(frozen=True)
class ThroughputPrior:
    """The prior of the posterior model, centred on the team's nominal capacity.

    mean_weight_weeks: how many weeks of history the capacity counts as, for the rate.
    weekly_cv: the prior's weekly coefficient of variation (weekly sd = weekly_cv x capacity).
    variance_weight: prior degrees of freedom for the weekly variance.
    """

    mean_weight_weeks: float = 1.0
    weekly_cv: float = 0.4
    variance_weight: float = 4.0


DEFAULT_PRIOR = ThroughputPrior()


def entity_rng(seed: int, stream: int, entity_id: str, *more: int) -> np.random.Generator:
    """A generator seeded from (seed, stream, a stable hash of the id, more...)."""
    digest = int.from_bytes(hashlib.blake2b(entity_id.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, stream, digest, *more])


@dataclass(frozen=True)
class RatePosterior:
    """The posterior over (mu, sigma^2) of one team: a normal-scaled-inverse-chi-square distribution."""

    mean: float
    """Posterior mean of mu (person-weeks per week)."""
    mean_weight: float
    """kappa: weeks of evidence behind the mean (prior weight + history length)."""
    dof: float
    """nu: degrees of freedom behind the variance."""
    scale: float
    """s^2: the posterior's weekly variance scale."""

    @classmethod
    def of(
        cls, capacity: float, history: list[float], prior: ThroughputPrior = DEFAULT_PRIOR
    ) -> RatePosterior:
        n = len(history)
        k0, nu0 = prior.mean_weight_weeks, prior.variance_weight
        s0_squared = (prior.weekly_cv * capacity) ** 2
        if n == 0:
            return cls(capacity, k0, nu0, s0_squared)
        values = np.asarray(history, dtype=np.float64)
        mean = float(values.mean())
        squares = float(((values - mean) ** 2).sum())
        kn, nun = k0 + n, nu0 + n
        posterior_mean = (k0 * capacity + n * mean) / kn
        scale = (nu0 * s0_squared + squares + k0 * n / kn * (mean - capacity) ** 2) / nun
        return cls(posterior_mean, kn, nun, scale)

    @property
    def constant(self) -> float | None:
        """The weekly throughput when the posterior leaves nothing uncertain (no capacity, no spread)."""
        return max(self.mean, 0.0) if self.mean <= 0 or self.scale <= 0 else None

    def draw_trials(self, rng: np.random.Generator, trials: int) -> TrialRates:
        """Per trial, the team's true rate mu and the log-sd of its weekly lognormal noise."""
        if self.constant is not None:
            return TrialRates(np.full(trials, self.constant), np.zeros(trials))
        variance = self.dof * self.scale / rng.chisquare(self.dof, size=trials)
        shape = self.mean_weight * self.mean**2 / variance
        rate = rng.standard_gamma(shape) * (self.mean / shape)
        np.maximum(rate, 1e-12 * self.mean, out=rate)
        log_sd = np.sqrt(np.log1p(variance / rate**2))
        return TrialRates(rate, log_sd)


@dataclass(frozen=True)
class TrialRates:
    rate: FloatArray
    """(trials,) the team's true mean weekly throughput in each trial."""
    log_sd: FloatArray
    """(trials,) sd of log weekly throughput in each trial (0: constant weeks)."""

    def weekly(self, normals: npt.NDArray[np.floating]) -> FloatArray:
        """(weeks, trials) weekly throughput from standard normals: rate x exp(sd z - sd^2 / 2)."""
        exponent = np.multiply(normals, self.log_sd, dtype=np.float64)
        exponent -= 0.5 * self.log_sd**2
        np.exp(exponent, out=exponent)
        exponent *= self.rate
        return exponent


NORMAL_LEVELS = 2**16
"""Weekly noise uses a standard normal discretised to this many equally likely levels (cut at +-4.3 sd)."""


@cache
def normal_levels() -> npt.NDArray[np.float32]:
    """The `NORMAL_LEVELS` midpoint quantiles of the standard normal, rescaled to unit variance.

    Drawing a 16-bit level and looking it up costs a fraction of a ziggurat normal; the weekly noise (one value
    per team, week and trial) is the bulk of the forecast's random numbers.
    """
    levels = ndtri((np.arange(NORMAL_LEVELS, dtype=np.float64) + 0.5) / NORMAL_LEVELS)
    levels /= math.sqrt(float(np.mean(levels**2)))
    return levels.astype(np.float32)


def weekly_normals(seed: int, team_id: str, block: int, weeks: int, trials: int) -> npt.NDArray[np.float32]:
    """(weeks, trials) standard normals behind one team's weekly noise for one block of weeks."""
    rng = entity_rng(seed, TEAM_STREAM, team_id, block)
    return normal_levels().take(rng.integers(0, NORMAL_LEVELS, size=(weeks, trials), dtype=np.uint16))


def posterior_weekly_block(
    rates: TrialRates, seed: int, team_id: str, block: int, weeks: int, trials: int
) -> npt.NDArray[np.float32]:
    """(weeks, trials) weekly throughput of one block of the posterior model, computed and stored as float32
    (`TrialRates.weekly` in single precision: the noise needs no more, and it halves the cost)."""
    weekly = weekly_normals(seed, team_id, block, weeks, trials)
    weekly *= rates.log_sd.astype(np.float32)
    weekly -= (0.5 * rates.log_sd**2).astype(np.float32)
    np.exp(weekly, out=weekly)
    weekly *= rates.rate.astype(np.float32)
    return weekly


def bootstrap_choices(
    seed: int, team_id: str, block: int, weeks: int, trials: int, count: int
) -> npt.NDArray[np.integer]:
    """(weeks, trials) indices into a history of `count` weeks (the bootstrap model)."""
    index_type = np.uint8 if count <= 2**8 else np.uint16 if count <= 2**16 else np.uint32
    rng = entity_rng(seed, TEAM_STREAM, team_id, block)
    return rng.integers(0, count, size=(weeks, trials), dtype=index_type)


def trial_rates(
    team_id: str,
    capacity: float,
    history: list[float],
    *,
    trials: int,
    seed: int,
    prior: ThroughputPrior = DEFAULT_PRIOR,
) -> TrialRates:
    """The posterior model's per-trial rates for one team, from the team's rate stream."""
    posterior = RatePosterior.of(capacity, history, prior)
    return posterior.draw_trials(entity_rng(seed, TEAM_STREAM, team_id, RATE_BLOCK), trials)


def weekly_throughput(
    team: Team,
    weeks: int,
    *,
    trials: int = 4000,
    seed: int = 0,
    kind: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
) -> FloatArray:
    """(weeks, trials) person-weeks the team delivers in each of the next `weeks` weeks, per trial."""
    if weeks < 0 or trials < 1:
        raise ValueError("weeks must be non-negative and trials positive")
    blocks: list[FloatArray] = []
    history = list(team.throughput_history)
    rates, constant = None, None
    if kind is ThroughputKind.POSTERIOR:
        posterior = RatePosterior.of(team.capacity, history, prior)
        if posterior.constant is None:
            rates = posterior.draw_trials(entity_rng(seed, TEAM_STREAM, team.id, RATE_BLOCK), trials)
        else:
            constant = posterior.constant
    for block, first in enumerate(range(0, weeks, WEEK_BLOCK)):
        size = min(WEEK_BLOCK, weeks - first)
        if rates is not None:
            blocks.append(
                posterior_weekly_block(rates, seed, team.id, block, size, trials).astype(np.float64)
            )
        elif constant is not None:
            blocks.append(np.full((size, trials), constant))
        elif len(history) > 1:
            samples = np.asarray(history, dtype=np.float64)
            choice = bootstrap_choices(seed, team.id, block, size, trials, len(history))
            blocks.append(samples.take(choice.astype(np.intp)))
        else:
            blocks.append(np.full((size, trials), history[0] if history else team.capacity))
    return np.concatenate(blocks) if blocks else np.zeros((0, trials))


def cumulative_delivered(
    team: Team,
    weeks: float,
    *,
    trials: int = 4000,
    seed: int = 0,
    kind: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
) -> FloatArray:
    """(trials,) person-weeks delivered in the first `weeks` weeks (linear inside a partial week)."""
    if not math.isfinite(weeks) or weeks < 0:
        raise ValueError(f"weeks must be finite and non-negative, got {weeks}")
    whole = math.floor(weeks)
    weekly = weekly_throughput(team, math.ceil(weeks), trials=trials, seed=seed, kind=kind, prior=prior)
    delivered = weekly[:whole].sum(axis=0)
    if weeks > whole:
        delivered += (weeks - whole) * weekly[whole]
    return delivered


def delivered_quantile(
    team: Team,
    weeks: float,
    probability: float,
    *,
    trials: int = 4000,
    seed: int = 0,
    kind: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
) -> float:
    """Person-weeks the team delivers in `weeks` weeks with at least `probability` probability.

    The (1 - probability) quantile of cumulative throughput, same model and streams as the forecast.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    delivered = cumulative_delivered(team, weeks, trials=trials, seed=seed, kind=kind, prior=prior)
    return float(np.quantile(delivered, 1 - probability, method="inverted_cdf"))


def probability_delivered(
    team: Team,
    effort: float,
    weeks: float,
    *,
    trials: int = 4000,
    seed: int = 0,
    kind: ThroughputKind = ThroughputKind.POSTERIOR,
    prior: ThroughputPrior = DEFAULT_PRIOR,
) -> float:
    """P(the team delivers at least `effort` person-weeks within `weeks` weeks)."""
    delivered = cumulative_delivered(team, weeks, trials=trials, seed=seed, kind=kind, prior=prior)
    return float(np.count_nonzero(delivered >= effort - 1e-9) / trials)
