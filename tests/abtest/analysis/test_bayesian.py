"""The Bayesian read-out in the analysis: the decision rule on data built to trip it.

With ``analysis.engine: bayesian`` a comparison is better when its chance to win is
above the threshold and the risk of choosing the treatment is at most the risk
threshold, worse when its chance to win is below ``1 - threshold`` and keeping the
control is safe, and a guardrail is breached when it got worse with a chance above
the threshold (:class:`abtest.analysis.result.BayesianSettings`). Each case below
sits just either side of one of those lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy.stats import norm

from abtest.analysis import analyze, decision_text, json_summary
from abtest.analysis.comparisons import read_comparison
from abtest.analysis.decision import decide
from abtest.analysis.render import _table_columns
from abtest.analysis.result import BayesianSettings, Health, MetricInfo
from abtest.stats import BayesianEffect, ProportionStats, compare, srm_test
from abtest.store import Store
from tests.abtest.analysis.builders import make_spec

SETTINGS = BayesianSettings(
    chance_to_win=0.95, risk_threshold=0.0025, prior_mean=None, prior_variance=None
)
COMPARISON = compare(ProportionStats(1000, 100), ProportionStats(1000, 110))


def info(group: str = "primary", name: str = "tap_rate") -> MetricInfo:
    return MetricInfo(
        name=name,
        group=group,  # type: ignore[arg-type]
        kind="ratio",
        metric_type="ratio",
        direction="higher_is_better",
        description="",
        percent=True,
        cap=None,
    )


def effect(chance: float, risk_treatment: float = 0.0, risk_control: float = 0.0):
    return BayesianEffect(chance, risk_control, risk_treatment, 0.1, 0.05, 0.0, 0.2, 0.95)


def read(bayes: BayesianEffect, group: str = "primary", settings=SETTINGS):
    return read_comparison(
        COMPARISON, info(group), "treatment", "control", bayes=bayes, bayesian=settings
    )


@pytest.mark.parametrize(
    ("chance", "risk_treatment", "risk_control", "verdict"),
    [
        (0.9501, 0.0025, 0.0, "better"),  # just above the threshold, risk at the limit
        (0.95, 0.0, 0.0, "inconclusive"),  # at the threshold: not above it
        (0.99, 0.0026, 0.0, "inconclusive"),  # likely better, but too risky to ship
        (0.0499, 0.0, 0.0025, "worse"),
        (0.0501, 0.0, 0.0, "inconclusive"),
        (0.01, 0.0, 0.003, "inconclusive"),  # likely worse, keeping control not safe enough
    ],
)
def test_chance_to_win_and_risk_decide(
    chance: float, risk_treatment: float, risk_control: float, verdict: str
) -> None:
    c = read(effect(chance, risk_treatment, risk_control))
    assert c.verdict == verdict
    assert c.significant == (verdict in ("better", "worse"))
    assert c.p_adjusted is None and c.p_worse is None  # no correction, no one-sided p
    assert c.p_value == COMPARISON.relative.p_value  # the raw p-value is kept, unchanged


def test_the_thresholds_are_the_spec_s() -> None:
    loose = BayesianSettings(0.9, 0.01, None, None)
    assert read(effect(0.92, 0.009), settings=loose).verdict == "better"
    assert read(effect(0.92, 0.009)).verdict == "inconclusive"


def test_a_guardrail_is_breached_when_it_likely_got_worse() -> None:
    assert read(effect(0.0499), group="guardrail").guardrail_breached
    assert not read(effect(0.0501), group="guardrail").guardrail_breached
    assert not read(effect(0.0499), group="primary").guardrail_breached


def test_the_decision_reads_the_bayesian_verdicts() -> None:
    srm = srm_test([1000, 1000], [0.5, 0.5])
    health = Health(srm, {"control": 1000, "treatment": 1000}, 0, (), ())
    metrics = [info(), info("guardrail", "impressions")]
    win = read(effect(0.99, 0.001))
    guard_ok = read_comparison(
        COMPARISON, metrics[1], "treatment", "control", bayes=effect(0.5), bayesian=SETTINGS
    )
    guard_bad = read_comparison(
        COMPARISON, metrics[1], "treatment", "control", bayes=effect(0.01), bayesian=SETTINGS
    )
    assert decide([win, guard_ok], metrics, health).verdict == "winner"
    assert decide([win, guard_bad], metrics, health).verdict == "guardrail_breached"
    risky = read(effect(0.99, 0.01))
    assert decide([risky, guard_ok], metrics, health).verdict == "no_difference"


# --- end to end, on a simulated experiment ------------------------------------------------


def test_a_flat_prior_reads_the_frequentist_lift_as_a_posterior(db: Path) -> None:
    """With a flat prior the posterior of the lift is N(lift, se^2) of the delta method:
    checked against the frequentist comparison of the same analysis, in closed form."""
    spec = make_spec(engine="bayesian", correction="holm")  # the correction is ignored
    with Store(db, read_only=True) as store:
        result = analyze(store, spec, daily=False, segments=())
    assert result.engine == "bayesian" and result.bayesian is not None
    assert result.bayesian.chance_to_win == 0.95 and result.bayesian.prior_mean is None
    for c in result.comparisons:
        b, rel = c.bayes, c.comparison.relative
        assert b is not None and c.p_adjusted is None and not rel.adjusted
        assert b.lift_mean == pytest.approx(rel.estimate, rel=1e-12)
        assert b.lift_sd == pytest.approx(rel.se, rel=1e-9)
        # every metric of this spec is higher-is-better: chance to win is P(lift > 0)
        assert b.chance_to_win == pytest.approx(norm.cdf(rel.estimate / rel.se), abs=1e-12)
        z = norm.ppf(0.975)
        assert b.ci_low == pytest.approx(rel.estimate - z * rel.se, rel=1e-9)
        assert b.ci_high == pytest.approx(rel.estimate + z * rel.se, rel=1e-9)
    tap = result.comparison("tap_rate")
    assert tap.verdict == "better" and result.decision.verdict == "winner"


def test_a_proper_prior_shrinks_the_lift_toward_its_mean(db: Path) -> None:
    with Store(db, read_only=True) as store:
        flat = analyze(store, make_spec(engine="bayesian"), daily=False, segments=())
        tight = analyze(
            store,
            make_spec(engine="bayesian", prior={"mean": 0.0, "variance": 0.0001}),
            daily=False,
            segments=(),
        )
    a, b = flat.comparison("tap_rate").bayes, tight.comparison("tap_rate").bayes
    assert a is not None and b is not None
    # N(m, s^2) data with a N(0, v) prior: posterior mean m / (1 + s^2 / v).
    s2, v = a.lift_sd**2, 0.0001
    assert b.lift_mean == pytest.approx(a.lift_mean / (1 + s2 / v), rel=1e-9)
    assert b.lift_sd == pytest.approx((1 / s2 + 1 / v) ** -0.5, rel=1e-9)
    assert tight.bayesian is not None and tight.bayesian.prior_variance == 0.0001


def test_every_output_shows_chance_to_win_and_risk_not_p(db: Path) -> None:
    from rich.console import Console

    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(engine="bayesian"), daily=False, segments=())
    console = Console(width=220, record=True)
    console.print(result)
    text = console.export_text()
    assert "chance to win" in text and "risk" in text and "95% CrI" in text
    assert "adjusted p" not in text
    headers = [label for label, _, _ in _table_columns(result)]
    assert headers[4:] == ["lift", "95% CrI", "chance to win", "risk", ""]  # no p column
    headline, reason = decision_text(result)
    assert headline == "treatment wins on tap_rate"
    assert "chance to win" in reason and "credible interval" in reason
    data = json_summary(result)
    first = data["comparisons"][0]["bayes"]
    assert set(first) >= {"chance_to_win", "risk_control", "risk_treatment", "ci_low", "ci_high"}
    frame = result.to_frame()
    assert {"chance_to_win", "risk_treatment", "relative_cri_low"} <= set(frame.columns)
