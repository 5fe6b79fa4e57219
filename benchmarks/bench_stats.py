"""Many comparisons at once: looklift's stats engine against tea-tasting.

A per-segment, per-day breakdown of an experiment means thousands of comparisons
from the same ``GROUP BY``. This times a CUPED ratio metric (taps / impressions
adjusted by the pre-period ratio, the heaviest metric type) over ``--comparisons``
pairs of variants, each from the moments of ``--users`` simulated users:

- looklift vectorised: one :func:`abtest.stats.compare_arrays` call on all of them;
- looklift scalar: :func:`abtest.stats.compare` (validated inputs, messages) one
  comparison at a time, timed on ``--sample`` comparisons and scaled linearly;
- tea-tasting: ``RatioOfMeans(...).analyze_aggregates`` one at a time, on the same
  sample, scaled the same way.

The absolute effects, intervals and p-values must agree to 1e-9 on the sample;
the script exits 1 if they do not (GrowthBook's gbstats is compared in the test
suite instead: it needs numpy<2).

    .venv/bin/python benchmarks/bench_stats.py [--comparisons 100000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import tea_tasting as tt
from tea_tasting.aggr import Aggregates

from abtest.stats import KINDS, CupedRatioStats, MomentArrays, compare, compare_arrays

NAMES = KINDS["cuped_ratio"].variables  # num, den, pre_num, pre_den: the moments' order


def simulate(rng: np.random.Generator, comparisons: int, users: int) -> MomentArrays:
    activity = rng.gamma(2.0, 4.0, (comparisons, users))
    taste = 0.5 * rng.beta(2, 18, (comparisons, users))
    den, pre_den = rng.poisson(activity) + 1, rng.poisson(activity) + 1
    values = np.stack(
        [rng.binomial(den, taste), den, rng.binomial(pre_den, taste), pre_den], axis=-1
    ).astype(float)
    return MomentArrays.from_values(values)


def dataclass_at(m: MomentArrays, i: int) -> CupedRatioStats:
    """Comparison ``i``'s moments as the validated dataclass a user would type."""
    return CupedRatioStats.from_arrays(m.at(i))


def aggregates_at(m: MomentArrays, i: int) -> Aggregates:
    """tea-tasting's input for comparison ``i``: counts, means, (co)variances."""
    cov = m.covariance()[i]
    mean = m.means()[i]
    return Aggregates(
        count_=int(m.n[i]),
        mean_={name: float(mean[k]) for k, name in enumerate(NAMES)},
        var_={name: float(cov[k, k]) for k, name in enumerate(NAMES)},
        cov_={
            (a, b): float(cov[j, k])
            for j, a in enumerate(NAMES)
            for k, b in enumerate(NAMES)
            if j < k
        },
    )


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--sample", type=int, default=2_000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    control = simulate(rng, args.comparisons, args.users)
    treatment = simulate(rng, args.comparisons, args.users)
    sample = range(min(args.sample, args.comparisons))
    scale = args.comparisons / len(sample)
    control_sample, treatment_sample = (m.at(slice(len(sample))) for m in (control, treatment))

    vector_s, arrays = timed(lambda: compare_arrays("cuped_ratio", control, treatment))
    scalar_s, scalar = timed(
        lambda: [compare(dataclass_at(control, i), dataclass_at(treatment, i)) for i in sample]
    )
    metric = tt.RatioOfMeans(*NAMES)
    inputs = [
        (aggregates_at(control_sample, i), aggregates_at(treatment_sample, i)) for i in sample
    ]  # built outside the timing: tea-tasting's own work only
    tea_s, tea = timed(lambda: [metric.analyze_aggregates(c, t) for c, t in inputs])

    ours = np.array([[r.absolute.ci_low, r.absolute.ci_high, r.absolute.p_value] for r in scalar])
    vector = np.stack([arrays.absolute.ci_low, arrays.absolute.ci_high, arrays.absolute.p_value], 1)
    theirs = np.array([[r.effect_size_ci_lower, r.effect_size_ci_upper, r.pvalue] for r in tea])
    agree = np.allclose(ours, theirs, rtol=1e-9, atol=1e-12) and np.allclose(
        ours, vector[: len(sample)], rtol=1e-9, atol=1e-12
    )

    tea_total = tea_s * scale
    rows = [
        ("looklift compare_arrays (all)", vector_s),
        (f"looklift compare (x{scale:g} from sample)", scalar_s * scale),
        (f"tea-tasting analyze_aggregates (x{scale:g})", tea_total),
    ]
    print(f"{args.comparisons:,} CUPED ratio comparisons, {args.users} users per variant")
    for label, seconds in rows:
        print(f"  {label:<46} {seconds:9.3f} s   tea-tasting / this: {tea_total / seconds:8.1f}x")
    print(f"  results agree to 1e-9 on {len(sample):,} comparisons: {agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
