"""The analyzer: its SQL moments equal an independent computation from the raw tables,
and its results equal the stats engine on those moments."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sqlglot
from rich.console import Console
from statsmodels.stats.multitest import multipletests

from abtest.analysis import AnalysisError, analyze, variant_stats
from abtest.analysis import sql as analysis_sql
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.spec import ExperimentSpec, parse_spec
from abtest.stats import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
)
from abtest.store import Store
from tests.conftest import write_toy_neighbors

SPEC = {
    "key": "analyzer-test",
    "seed": "analyzer",
    "variants": [
        {"name": "control", "weight": 0.5, "encoder": "base", "params": {"k": 5}},
        {"name": "treatment", "weight": 0.5, "encoder": "better", "params": {"k": 5}},
    ],
    "metrics": {
        "primary": ["tap_rate"],
        "secondary": ["buyers", "taps", "revenue"],
        "guardrail": ["impressions"],
    },
    "metric_definitions": {
        "tap_rate": {"kind": "ratio", "numerator": "tap", "denominator": "impression"},
        "buyers": {"kind": "proportion", "numerator": "purchase"},
        "taps": {"kind": "mean", "numerator": "tap"},
        "revenue": {
            "kind": "mean",
            "numerator": {"event": "purchase", "aggregate": "sum"},
            "winsorize": {"percentile": 0.9},
        },
        "impressions": {
            "kind": "mean",
            "numerator": "impression",
            "winsorize": {"upper": 40},
            "direction": "higher_is_better",
        },
    },
    "analysis": {"correction": "none"},
    "schedule": {"start": "2026-03-02", "end": "2026-03-09"},
}
START, END = dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 9)


def make_spec(**analysis: object) -> ExperimentSpec:
    data = json.loads(json.dumps(SPEC))
    data["analysis"].update(analysis)
    return parse_spec(data)


@pytest.fixture(scope="module")
def served(small_world, tmp_path_factory) -> Path:
    """The small world with the two encoders' neighbours and no traffic yet."""
    path = tmp_path_factory.mktemp("analyzer-served") / "world.duckdb"
    shutil.copy(small_world.db, path)
    write_toy_neighbors(path, "base", match="category")
    write_toy_neighbors(path, "better", match="colour")
    return path


@pytest.fixture(scope="module")
def db(served: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("analyzer")
    path = folder / "world.duckdb"
    shutil.copy(served, path)
    simulate_traffic(path, make_spec(), TrafficConfig(pre_days=3, traffic=3))
    with Store(path) as store:  # one user exposed to both arms: must be excluded
        mixed = store.query("SELECT user_id, variant FROM exposures ORDER BY user_id LIMIT 1").row(
            0, named=True
        )
        other = "treatment" if mixed["variant"] == "control" else "control"
        store.ingest(
            "exposures",
            pl.DataFrame(
                {
                    "experiment": ["analyzer-test"],
                    "variant": [other],
                    "user_id": [mixed["user_id"]],
                    "ts": [dt.datetime(2026, 3, 5, 12)],
                }
            ),
        )
        # Users with events in the window before their first exposure (a late exposure
        # log): those events must not count.
        late = store.query(
            "SELECT user_id, MIN(ts) AS exposed_at FROM exposures "
            "WHERE experiment = 'analyzer-test' AND user_id <> ? GROUP BY user_id "
            "HAVING MIN(ts) >= ? ORDER BY user_id LIMIT 5",
            [mixed["user_id"], START + dt.timedelta(hours=2)],
        )
        kinds = ["impression", "tap", "purchase"]
        store.ingest(
            "events",
            pl.DataFrame(
                {
                    "event_id": [f"late-{u}-{k}" for u in late["user_id"] for k in kinds],
                    "ts": [t - dt.timedelta(hours=1) for t in late["exposed_at"] for _ in kinds],
                    "user_id": [u for u in late["user_id"] for _ in kinds],
                    "event_type": kinds * late.height,
                    "value": [None, None, 250.0] * late.height,
                }
            ),
        )
    return path


def reference_values(db: Path, end: dt.datetime = END, cuped_days: int = 0) -> pl.DataFrame:
    """Per-user metric variables computed with polars from the raw tables, independently."""
    with Store(db, read_only=True) as store:
        exposures = store.query(
            "SELECT * FROM exposures WHERE experiment = 'analyzer-test' AND ts >= ? AND ts < ?",
            [START, end],
        )
        events = store.query("SELECT user_id, ts, event_type, value FROM events")
    first = (
        exposures.sort("ts", "variant")
        .group_by("user_id")
        .agg(
            pl.col("variant").first(),
            pl.col("ts").first().alias("exposed_at"),
            pl.col("variant").n_unique().alias("n_variants"),
        )
        .filter(pl.col("n_variants") == 1)
    )
    joined = events.join(first, on="user_id")
    post = joined.filter((pl.col("ts") >= pl.col("exposed_at")) & (pl.col("ts") < end))
    pre = joined.filter(
        (pl.col("ts") >= START - dt.timedelta(days=cuped_days)) & (pl.col("ts") < START)
    )

    def per_user(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return frame.group_by("user_id").agg(
            (pl.col("event_type") == "tap").sum().alias(f"tap{suffix}"),
            (pl.col("event_type") == "impression").sum().alias(f"impression{suffix}"),
            (pl.col("event_type") == "purchase").sum().alias(f"purchase{suffix}"),
            pl.when(pl.col("event_type") == "purchase")
            .then(pl.col("value"))
            .otherwise(0.0)
            .sum()
            .alias(f"revenue{suffix}"),
        )

    out = first.join(per_user(post, ""), on="user_id", how="left")
    out = out.join(per_user(pre, "_pre"), on="user_id", how="left")
    return out.fill_null(0)


def reference_stats(values: pl.DataFrame, variant: str, cuped: bool) -> dict[str, object]:
    v = values.filter(pl.col("variant") == variant)
    cap = float(np.percentile(values["revenue"].to_numpy(), 90))  # pooled, PERCENTILE_CONT

    def arr(col: str) -> np.ndarray:
        return v[col].to_numpy().astype(float)

    taps, imps, buys = arr("tap"), arr("impression"), (arr("purchase") > 0).astype(float)
    rev, imps_capped = np.minimum(arr("revenue"), cap), np.minimum(arr("impression"), 40)
    if not cuped:
        return {
            "tap_rate": RatioStats.from_values(taps, imps),
            "buyers": ProportionStats(len(v), int(buys.sum())),
            "taps": MeanStats.from_values(taps),
            "revenue": MeanStats.from_values(rev),
            "impressions": MeanStats.from_values(imps_capped),
        }
    taps_p, imps_p = arr("tap_pre"), arr("impression_pre")
    buys_p = (arr("purchase_pre") > 0).astype(float)
    return {
        "tap_rate": CupedRatioStats.from_values(taps, imps, taps_p, imps_p),
        "buyers": CupedMeanStats.from_values(buys, buys_p),
        "taps": CupedMeanStats.from_values(taps, taps_p),
        "revenue": CupedMeanStats.from_values(rev, np.minimum(arr("revenue_pre"), cap)),
        "impressions": CupedMeanStats.from_values(imps_capped, np.minimum(imps_p, 40)),
    }


@pytest.mark.parametrize("cuped_days", [0, 3])
def test_results_equal_the_engine_on_independently_computed_moments(
    db: Path, cuped_days: int
) -> None:
    spec = make_spec(cuped_pre_period_days=cuped_days)
    with Store(db, read_only=True) as store:
        result = analyze(store, spec)
    values = reference_values(db, cuped_days=cuped_days)
    control = reference_stats(values, "control", cuped_days > 0)
    treatment = reference_stats(values, "treatment", cuped_days > 0)
    for name in SPEC["metric_definitions"]:
        expected = compare(control[name], treatment[name], alpha=0.05)
        got = result.comparison(name).comparison
        assert got.control_n == expected.control_n and got.treatment_n == expected.treatment_n
        for field in ("absolute", "relative"):
            e, g = getattr(expected, field), getattr(got, field)
            for attr in ("estimate", "se", "ci_low", "ci_high", "p_value"):
                assert getattr(g, attr) == pytest.approx(getattr(e, attr), rel=1e-9, abs=1e-12), (
                    name,
                    field,
                    attr,
                )
    assert result.health.mixed_users == 1
    assert "more than one variant" in result.health.warnings[0]


def test_a_metric_can_opt_out_of_cuped(db: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["analysis"]["cuped_pre_period_days"] = 3
    data["metric_definitions"]["revenue"]["cuped"] = False
    with Store(db, read_only=True) as store:
        result = analyze(store, parse_spec(data))
    values = reference_values(db, cuped_days=3)
    for name, cuped in (("revenue", False), ("taps", True), ("tap_rate", True)):
        control = reference_stats(values, "control", cuped)[name]
        treatment = reference_stats(values, "treatment", cuped)[name]
        expected = compare(control, treatment).relative
        got = result.comparison(name).comparison.relative
        assert got.estimate == pytest.approx(expected.estimate, rel=1e-9), name
        assert got.ci_low == pytest.approx(expected.ci_low, rel=1e-9), name
    assert result.metric("revenue").metric_type == "mean"
    assert result.cuped_text == "CUPED on 3 pre-period days (tap_rate, buyers, taps, impressions)"
    last = max((d for d in result.daily if d.metric == "revenue"), key=lambda d: d.day)
    assert last.lift == pytest.approx(result.comparison("revenue").comparison.relative.estimate)


def test_events_before_the_first_exposure_are_not_counted(db: Path, tmp_path: Path) -> None:
    """Users with events in the window before their exposure are recounted from it."""
    with Store(db, read_only=True) as store:
        late = store.fetch_one("SELECT count(*) FROM events WHERE event_id LIKE 'late-%'")
        with_late = analyze(store, make_spec(cuped_pre_period_days=3), daily=False, segments=())
    assert late == (15,)
    copy = tmp_path / "without-late.duckdb"
    shutil.copy(db, copy)
    with Store(copy) as store:
        store.con.execute("DELETE FROM events WHERE event_id LIKE 'late-%'")
        without = analyze(store, make_spec(cuped_pre_period_days=3), daily=False, segments=())
    for got, expected in zip(with_late.comparisons, without.comparisons, strict=True):
        assert got.comparison.control_n == expected.comparison.control_n
        for attr in ("estimate", "ci_low", "ci_high"):
            assert getattr(got.comparison.relative, attr) == pytest.approx(
                getattr(expected.comparison.relative, attr), rel=1e-12
            ), got.metric


def test_percentile_cap_is_pooled_percentile_cont(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), daily=False, segments=[])
    values = reference_values(db)
    assert result.metric("revenue").cap == pytest.approx(
        np.percentile(values["revenue"].to_numpy(), 90)
    )
    assert result.metric("impressions").cap == 40


def test_as_of_cuts_exposures_and_events_at_the_end_of_the_day(db: Path) -> None:
    as_of = dt.date(2026, 3, 4)
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), as_of=as_of)
    cut = dt.datetime(2026, 3, 5)
    values = reference_values(db, end=cut)
    control = reference_stats(values, "control", False)
    treatment = reference_stats(values, "treatment", False)
    expected = compare(control["taps"], treatment["taps"])
    got = result.comparison("taps").comparison
    assert result.end == cut and got.control_n == expected.control_n
    assert got.relative.estimate == pytest.approx(expected.relative.estimate, rel=1e-12)
    assert max(d.day for d in result.daily) == as_of


def test_last_daily_point_is_the_overall_result(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec())
    for name in SPEC["metric_definitions"]:
        last = max((d for d in result.daily if d.metric == name), key=lambda d: d.day)
        overall = result.comparison(name).comparison
        assert last.lift == pytest.approx(overall.relative.estimate, rel=1e-9)
        assert last.lift_low == pytest.approx(overall.relative.ci_low, rel=1e-9)
        assert last.treatment_users == overall.treatment_n
    users = [d.control_users for d in result.daily if d.metric == "taps"]
    assert users == sorted(users)  # cumulative


def test_segments_partition_the_users(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), segments=["platform", "is_new"])
    for segment in ("platform", "is_new"):
        rows = [s for s in result.segments if s.segment == segment and s.metric == "taps"]
        assert sum(r.control_users for r in rows) == result.health.users["control"]
        assert sum(r.treatment_users for r in rows) == result.health.users["treatment"]


def test_segment_lifts_equal_the_engine_on_each_segment(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), segments=["country", "platform"], daily=False)
        users = store.query("SELECT user_id, platform, country FROM users")
    values = reference_values(db).join(users, on="user_id")
    checked = 0
    for point in result.segments:
        if point.metric not in ("taps", "tap_rate"):  # uncapped: no pooled cap to carry over
            continue
        part = values.filter(pl.col(point.segment) == point.value)
        control = reference_stats(part, "control", False)[point.metric]
        treatment = reference_stats(part, "treatment", False)[point.metric]
        expected = compare(control, treatment).relative
        assert point.lift == pytest.approx(expected.estimate, rel=1e-9, nan_ok=True)
        assert point.lift_low == pytest.approx(expected.ci_low, rel=1e-9, nan_ok=True)
        assert point.control_users == control.n
        checked += 1
    assert checked >= 8


def test_segment_names_are_checked_and_quoted(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "quoted.duckdb"
    shutil.copy(db, copy)
    with Store(copy) as store:
        store.con.execute('ALTER TABLE users ADD COLUMN "app ""version""" VARCHAR')
        store.con.execute(
            'UPDATE users SET "app ""version""" = '
            "'v' || (CAST(substr(user_id, 2) AS INTEGER) % 2)"
        )
        result = analyze(store, make_spec(), segments=['app "version"'], daily=False)
        assert {s.value for s in result.segments} == {"v0", "v1"}
        with pytest.raises(AnalysisError, match="unknown segment 'platform; DROP TABLE users'"):
            analyze(store, make_spec(), segments=["platform; DROP TABLE users"])
        assert store.has_table("users")


def test_sample_ratio_mismatch_invalidates_the_decision(served: Path, tmp_path: Path) -> None:
    copy = tmp_path / "srm.duckdb"
    shutil.copy(served, copy)
    simulate_traffic(
        copy,
        make_spec(),
        TrafficConfig(pre_days=0, traffic=3, drop_exposures={"treatment": 0.4}),
    )
    with Store(copy, read_only=True) as store:
        result = analyze(store, make_spec(), daily=False)
    assert result.health.srm.flagged and result.decision.verdict == "invalid"
    assert "sample ratio mismatch" in result.decision.headline


def test_a_variant_without_users_gives_messages_not_crashes(db: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["variants"].append({"name": "ghost", "weight": 0.0, "encoder": "base"})
    data["variants"][0]["weight"] = 0.5
    spec = parse_spec(data)
    with Store(db, read_only=True) as store:
        result = analyze(store, spec)
    ghost = result.comparison("taps", "ghost")
    assert ghost.verdict == "undefined" and "no users" in (ghost.comparison.message or "")
    assert any("ghost" in w for w in result.health.warnings)


def test_undefined_comparisons_keep_every_interval_header_s_level(db: Path) -> None:
    """A variant without users makes half the comparisons untestable; the headers still
    name both levels (the nominal one and the corrected one), with no bare "CI"."""
    data = json.loads(json.dumps(SPEC))
    data["variants"].append({"name": "ghost", "weight": 0.0, "encoder": "base"})
    data["analysis"]["correction"] = "holm"
    with Store(db, read_only=True) as store:
        result = analyze(store, parse_spec(data), daily=False)
    console = Console(width=220, record=True)
    console.print(result)
    header = next(line for line in console.export_text().splitlines() if "┃ metric" in line)
    cells = [cell.strip() for cell in header.split("┃")[1:-1]]
    assert "95% CI" in cells and "99% CI (holm)" in cells  # 5 testable comparisons
    assert "CI" not in cells
    ghost = result.comparison("taps", "ghost").comparison.relative
    assert ghost.ci_level == 0.95 and ghost.ci_level_adjusted == pytest.approx(0.99)


def test_errors_name_the_problem(db: Path, tmp_path: Path) -> None:
    with Store(db, read_only=True) as store:
        with pytest.raises(AnalysisError, match="has no exposures"):
            analyze(store, parse_spec({**SPEC, "key": "never-run"}))
        with pytest.raises(AnalysisError, match="before 'analyzer-test' started"):
            analyze(store, make_spec(), as_of=dt.date(2026, 2, 1))
    import duckdb

    from abtest.store import StoreError

    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    with pytest.raises(StoreError, match="is not a looklift database"):  # refused at open
        Store(bare, read_only=True)
    con = duckdb.connect(str(bare))
    con.execute("CREATE TABLE users (user_id VARCHAR)")  # a looklift table, no exposures
    con.close()
    with Store(bare, read_only=True) as store, pytest.raises(AnalysisError, match="no exposures"):
        analyze(store, make_spec())


def test_result_converts_to_frame_json_and_html(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"))
    frame = result.to_frame()
    assert frame.height == 5 and set(frame["metric"]) == set(SPEC["metric_definitions"])
    data = json.loads(result.to_json())
    assert data["decision"]["verdict"] in {"winner", "no_difference", "loser", "guardrail_breached"}
    assert "NaN" not in result.to_json()
    html = result._repr_html_()
    assert "<table>" in html and "tap_rate" in html
    holm = result.comparison("taps")
    assert holm.comparison.correction == "holm"


def test_variant_stats_are_the_inputs_of_power(db: Path) -> None:
    with Store(db, read_only=True) as store:
        stats = variant_stats(store, make_spec())
    values = reference_values(db)
    assert stats["taps"]["control"] == reference_stats(values, "control", False)["taps"]


def test_sql_is_portable_to_warehouses(db: Path) -> None:
    spec = make_spec(cuped_pre_period_days=3)
    variables = analysis_sql.metric_variables(spec, cuped=True)
    pre_start, caps = START - dt.timedelta(days=3), {"impressions": 40.0}
    queries = [
        analysis_sql.units_sql(spec, START, END),
        analysis_sql.user_totals_sql(spec, START, END, pre_start),
        analysis_sql.late_exposures_sql(),
        analysis_sql.recounted_totals_sql(spec, START, END, pre_start),
        analysis_sql.user_days_sql(spec, START, END, pre_start, late_users=True),
        analysis_sql.percentile_cap_sql(spec.metric("revenue")),
        analysis_sql.moments_by_variant_sql(variables, caps),
        analysis_sql.moments_by_segments_sql(variables, caps, ["platform", "is_new"]),
        analysis_sql.moments_by_day_sql(variables, [START.date(), END.date()], {}),
    ]
    for query in queries:
        for dialect in ("postgres", "spark", "snowflake", "bigquery"):
            out = sqlglot.transpile(
                query, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
            )
            assert out and out[0]


def test_true_lift_is_inside_the_interval(db: Path) -> None:
    """One deterministic run: the CI of the tap-rate lift covers the simulator's truth."""
    with Store(db, read_only=True) as store:
        truth = store.query("SELECT * FROM truth_experiments WHERE experiment = 'analyzer-test'")
        result = analyze(store, make_spec())
    rates = dict(zip(truth["variant"], truth["tap_rate"], strict=True))
    true_lift = rates["treatment"] / rates["control"] - 1
    rel = result.comparison("tap_rate").comparison.relative
    assert rel.ci_low <= true_lift <= rel.ci_high
    assert not math.isnan(rel.estimate)


# --- what each number is: raw p, adjusted p, nominal and widened intervals --------------


def test_p_is_the_raw_p_value_and_adjusted_p_the_holm_one(db: Path) -> None:
    """The "p" of every row is the raw p-value of its comparison; "adjusted p" is Holm's
    adjustment of the whole family; the nominal 95% interval survives beside the widened
    one. (They used to be overwritten, so both columns showed the adjusted number.)"""
    with Store(db, read_only=True) as store:
        raw = analyze(store, make_spec(correction="none"), daily=False)
        holm = analyze(store, make_spec(correction="holm"), daily=False)
    raw_p = [c.p_value for c in raw.comparisons]
    expected = multipletests(raw_p, method="holm")[1]
    m = len(raw_p)
    for r, h, adjusted in zip(raw.comparisons, holm.comparisons, expected, strict=True):
        assert r.p_adjusted is None and not r.comparison.relative.adjusted
        assert h.p_value == pytest.approx(r.p_value, rel=1e-12)
        assert h.p_adjusted == pytest.approx(adjusted, rel=1e-12)
        rel_r, rel_h = r.comparison.relative, h.comparison.relative
        assert rel_h.ci == pytest.approx(rel_r.ci, rel=1e-12) and rel_h.ci_level == 0.95
        assert rel_h.ci_level_adjusted == pytest.approx(1 - 0.05 / m)
        low, high = rel_h.ci_adjusted
        assert low < rel_r.ci_low and high > rel_r.ci_high
        assert h.significant == (adjusted < 0.05)
    assert any(h.p_adjusted > h.p_value * 1.5 for h in holm.comparisons)

    frame = holm.to_frame()
    assert frame["p_value"].to_list() == pytest.approx(raw_p, rel=1e-12)
    assert frame["p_adjusted"].to_list() == pytest.approx(list(expected), rel=1e-12)
    assert set(frame["ci_level"]) == {0.95}
    data = json.loads(holm.to_json())
    first = data["comparisons"][0]
    assert first["p_value"] != first["p_adjusted"]
    assert first["comparison"]["relative"]["p_value"] == pytest.approx(raw_p[0], rel=1e-12)
    assert first["comparison"]["relative"]["p_value_adjusted"] == pytest.approx(expected[0])


def test_the_terminal_table_shows_each_number_under_its_own_name(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
        plain = analyze(store, make_spec(correction="none"), daily=False)
    console = Console(width=220, record=True)
    console.print(result)
    text = console.export_text()
    header = next(line for line in text.splitlines() if "┃ metric" in line)
    assert "95% CI" in header and "99% CI (holm)" in header
    for c in result.comparisons:
        row = next(line for line in text.splitlines() if line.startswith(f"│ {c.metric}"))
        cells = [cell.strip() for cell in row.split("│")[1:-1]]
        assert cells[6] == render_p(c.p_value) and cells[8] == render_p(c.p_adjusted)
    console = Console(width=220, record=True)
    console.print(plain)
    assert "adjusted p" not in console.export_text()  # no correction, no adjusted column


def render_p(p: float | None) -> str:
    assert p is not None
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


# --- guardrails: one-sided, unadjusted -------------------------------------------------


@pytest.fixture(scope="module")
def harmed(served: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same experiment, with the treatment's module failing to render on 10% of views."""
    copy = tmp_path_factory.mktemp("harmed") / "world.duckdb"
    shutil.copy(served, copy)
    simulate_traffic(
        copy,
        make_spec(),
        TrafficConfig(pre_days=0, traffic=3, module_failures={"treatment": 0.1}),
    )
    return copy


def test_an_injected_harm_breaches_the_guardrail(harmed: Path) -> None:
    """Fewer impressions per user: the one-sided, unadjusted test flags it, although the
    Holm-adjusted two-sided p (which the guardrail used to be judged by) is above alpha."""
    with Store(harmed, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
    guard = result.comparison("impressions")
    rel = guard.comparison.relative
    assert rel.estimate < 0
    assert guard.p_worse == pytest.approx(guard.p_value / 2, rel=1e-9)
    assert guard.p_worse < 0.05 < guard.p_adjusted
    assert guard.guardrail_breached
    assert result.decision.verdict == "guardrail_breached"
    assert "impressions got significantly worse" in result.decision.reason
    console = Console(width=220, record=True)
    console.print(result)
    text = console.export_text()
    assert "BREACHED" in next(line for line in text.splitlines() if "│ impressions" in line)


def test_a_guardrail_moving_the_good_way_never_breaches(harmed: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["metric_definitions"]["impressions"]["direction"] = "lower_is_better"
    with Store(harmed, read_only=True) as store:
        result = analyze(store, parse_spec(data), daily=False)
    guard = result.comparison("impressions")
    assert guard.p_worse > 0.95 and not guard.guardrail_breached
    assert result.decision.verdict != "guardrail_breached"


def test_without_harm_the_guardrails_hold(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
    guard = result.comparison("impressions")
    assert guard.p_worse is not None and guard.p_worse > 0.05 and not guard.guardrail_breached
    assert all(c.p_worse is None for c in result.comparisons if c.group != "guardrail")
