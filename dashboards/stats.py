"""Small, exact statistics for the panels: Wilson and Clopper-Pearson intervals, the exact
conditional interval for a ratio of two Poisson rates, Newcombe's interval for a difference
of proportions, and percentiles.

Written here rather than taken from a statistics package: the project needs four formulas,
and the one special function they rest on (the beta quantile) is computed below to full
double precision by a continued fraction and bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
ALPHA = 0.05


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """The ``q`` quantile of Beta(a, b), by bisection (the CDF is monotone)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial proportion k/n; n > 0."""
    lower = 0.0 if k == 0 else beta_ppf(alpha / 2, k, n - k + 1)
    upper = 1.0 if k == n else beta_ppf(1 - alpha / 2, k + 1, n - k)
    return lower, upper


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion k/n (None when n is 0)."""
    if n == 0:
        return None
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval (his method 10) for p1 - p2, built from the two
    Wilson intervals; None when either group is empty."""
    a, b = wilson(k1, n1), wilson(k2, n2)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    lower = d - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    upper = d + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    return lower, upper


@dataclass(frozen=True)
class RateRatio:
    """after/before rate ratio with its exact conditional 95% interval; ``None`` stands
    for a bound (or estimate) that is unbounded or undefined."""

    ratio: float | None
    lower: float | None
    upper: float | None


def rate_ratio(k_after: int, e_after: float, k_before: int, e_before: float) -> RateRatio:
    """Ratio of two Poisson rates (k_after/e_after) / (k_before/e_before), with the exact
    conditional interval: given n = k_after + k_before events, k_after is binomial with
    p = e_after·RR / (e_after·RR + e_before); the Clopper-Pearson interval of p is mapped
    to RR = p / (1 - p) · e_before / e_after."""
    if e_after <= 0 or e_before <= 0 or k_after + k_before == 0:
        return RateRatio(None, None, None)
    n = k_after + k_before
    scale = e_before / e_after
    p_low, p_high = clopper_pearson(k_after, n)

    def to_ratio(p: float) -> float | None:
        return None if p >= 1.0 else p / (1.0 - p) * scale

    ratio = None if k_before == 0 else (k_after / e_after) / (k_before / e_before)
    return RateRatio(ratio, to_ratio(p_low), to_ratio(p_high))


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` (0-100) percentile by the nearest-rank method (None for no values)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
