"""Planning an experiment (``looklift power``): the lift a number of users can detect, or
the users a lift needs, per metric.

The baseline of each metric is either a past experiment's control (its per-user
moments, read from the store as the analyzer reads them) or numbers given on the
command line. The statistics themselves are :func:`abtest.stats.mde` and
:func:`abtest.stats.sample_size`; this module only turns the inputs into the
sufficient statistics they take and collects, per metric, the answer or why
there is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abtest.stats import MeanStats, ProportionStats, StatsInputError, mde, sample_size
from looklift.errors import UsageProblem

NUMBERS_N = 1_000_000
"""Users behind a baseline given as numbers: enough that its own noise does not matter."""


@dataclass(frozen=True)
class PowerPlan:
    """One metric's plan: what ``users`` per variant can detect, and what ``lift`` needs."""

    metric: str
    n_users: int | None
    """Users per variant the detectable lift is for (``None``: not asked)."""
    mde: Any
    """:func:`abtest.stats.mde`'s result, or ``None``."""
    sample_size: Any
    """:func:`abtest.stats.sample_size`'s result, or ``None``."""
    problem: str | None
    """Why this metric's baseline cannot be planned with, if it cannot."""

    @property
    def summary(self) -> Any:
        """The result that states the baseline (mean and sd per user), if any."""
        return self.mde or self.sample_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mde": self.mde,
            "sample_size": self.sample_size,
            "problem": self.problem,
        }


def users_of(baseline: object) -> int:
    """Users behind a baseline's moments (the post-period ones for CUPED moments)."""
    n = getattr(baseline, "n", None)
    if n is None:
        n = getattr(getattr(baseline, "post", None), "n", 0)
    return int(n or 0)


def experiment_baselines(spec_file: Path, db: Path, metric: str | None) -> dict[str, object]:
    """The control's moments of each metric of the experiment in ``spec_file`` (or only
    ``metric``), as recorded in ``db``."""
    from abtest.analysis import variant_stats
    from abtest.spec import load_spec
    from abtest.store import Store

    spec = load_spec(spec_file)
    # Read-only: refuses a missing path, a folder, a non-looklift file.
    with Store(db, read_only=True) as store:
        stats = variant_stats(store, spec)
    if not stats:
        raise UsageProblem(f"{spec_file} defines no metrics to plan for")
    if metric is not None and metric not in stats:
        raise UsageProblem(f"unknown metric {metric!r}; the spec has {', '.join(stats)}")
    control = spec.variant_names[0]
    baselines = {m: v[control] for m, v in stats.items() if metric in (None, m)}
    n_control = min(users_of(b) for b in baselines.values())
    if n_control < 2:  # a baseline needs a variance, whatever --users says
        raise UsageProblem(
            f"the control {control!r} of {spec.key!r} has {n_control} user(s) in {db}: "
            "too few for a baseline (give one with --proportion, or --mean and --sd)"
        )
    return baselines


def number_baseline(
    proportion: float | None, mean: float | None, sd: float | None
) -> dict[str, object]:
    """A baseline from numbers: a conversion rate, or a mean and standard deviation per
    user, as the moments of :data:`NUMBERS_N` users."""
    n = NUMBERS_N
    if proportion is not None:
        if not 0 < proportion < 1:
            raise UsageProblem(f"--proportion must be between 0 and 1 (got {proportion})")
        return {"proportion": ProportionStats(n, round(proportion * n))}
    if mean is not None and sd is not None:
        if sd <= 0:
            raise UsageProblem(f"--sd must be positive (got {sd})")
        return {"mean": MeanStats(n, mean * n, (sd * sd * (n - 1)) + n * mean * mean)}
    raise UsageProblem("give a baseline: FILE (with --db), or --proportion, or --mean and --sd")


def plan_power(
    baselines: dict[str, object],
    *,
    users: int | None,
    users_from_baseline: bool,
    lift: float | None,
    alpha: float,
    power: float,
) -> list[PowerPlan]:
    """Each baseline's detectable lift for ``users`` per variant (by default the
    baseline's own users when ``users_from_baseline``) and users needed for ``lift``.

    A metric whose baseline cannot be planned with keeps its reason in ``problem``;
    when that is every metric, the inputs themselves are wrong and that is an error.
    """
    plans = []
    for name, base in baselines.items():
        n_users = users or (users_of(base) if users_from_baseline else None)
        try:
            detectable = (
                mde(base, n_control=n_users, alpha=alpha, power=power)  # type: ignore[arg-type]
                if n_users
                else None
            )
            needed = (
                sample_size(base, relative_effect=lift, alpha=alpha, power=power)  # type: ignore[arg-type]
                if lift is not None
                else None
            )
        except StatsInputError as exc:  # this metric's baseline cannot be planned with
            plans.append(PowerPlan(name, n_users, None, None, str(exc)))
            continue
        plans.append(PowerPlan(name, n_users, detectable, needed, None))
    problems = [(p.metric, p.problem) for p in plans if p.problem is not None]
    if len(problems) == len(baselines):  # nothing to show: the inputs themselves are wrong
        messages = list(dict.fromkeys(m for _, m in problems))
        raise UsageProblem(
            messages[0] if len(messages) == 1 else "; ".join(f"{n}: {m}" for n, m in problems)
        )
    return plans
