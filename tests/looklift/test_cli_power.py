"""``looklift power FILE --db DB``: a baseline from an experiment's control, or one line.

Without data for the experiment it used to end in a Binder Error (an infinite
winsorization cap written as ``inf`` into SQL) or an ``AssertionError``; now
it says what is missing and exits with code 2. A metric whose baseline cannot
be planned with is shown as "—" with a note, while the others are answered.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from looklift.cli import run
from tests.conftest import served_copy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = str(EXAMPLES / "similar-looks.yaml")
THREE_ARMS = str(EXAMPLES / "three-arms.yaml")


@pytest.fixture(scope="module")
def world(small_world, tmp_path_factory) -> Path:
    """The small world with both demo encoders' neighbors and no traffic yet."""
    return served_copy(small_world, tmp_path_factory.mktemp("power") / "world.duckdb")


@pytest.fixture(scope="module")
def simulated(world: Path, tmp_path_factory) -> Path:
    """That world after four days of the demo's experiment."""
    path = tmp_path_factory.mktemp("power-simulated") / "world.duckdb"
    shutil.copy(world, path)
    assert run(["simulate", SPEC, "--db", str(path), "--days", "4"]) == 0
    return path


def looklift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_exit_2(code: int, out: str, err: str, message: str) -> None:
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err


def test_an_experiment_without_data_is_one_line(
    world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = looklift(capsys, "power", SPEC, "--db", str(world))
    _one_line_exit_2(code, out, err, "experiment 'similar-looks' has no exposures")


def test_an_experiment_that_was_not_run_is_one_line(
    simulated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = looklift(capsys, "power", THREE_ARMS, "--db", str(simulated))
    _one_line_exit_2(code, out, err, "'similar-looks-encoders' has no exposures")
    assert "experiments with exposures: similar-looks" in err


def test_a_control_without_users_is_one_line(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every user also exposed to the other variant: all are excluded, none is left."""
    import duckdb

    db = tmp_path / "mixed.duckdb"
    shutil.copy(simulated, db)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "INSERT INTO exposures SELECT experiment, "
            "CASE WHEN variant = 'control' THEN 'treatment' ELSE 'control' END, user_id, ts "
            "FROM exposures"
        )
    code, out, err = looklift(capsys, "power", SPEC, "--db", str(db))
    _one_line_exit_2(code, out, err, "the control 'control' of 'similar-looks' has 0 user(s)")
    # the analysis of the same data reads its warnings instead of a Binder Error on "inf"
    code, out, err = looklift(capsys, "analyze", SPEC, "--db", str(db))
    assert code == 0, err
    assert "were exposed to more than one variant" in out + err and "Traceback" not in err


def test_power_from_a_past_experiment(simulated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = looklift(
        capsys, "power", SPEC, "--db", str(simulated), "--lift", "0.1", "--format", "json"
    )
    assert code == 0, err
    rows = {r["metric"]: r for r in json.loads(out)}
    assert set(rows) >= {"tap_through_rate", "revenue_per_user"}
    for r in rows.values():
        assert r["problem"] is None and r["mde"]["relative_effect"] > 0
        assert r["sample_size"]["n_control"] >= 2


def test_a_metric_without_a_baseline_is_a_note(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A metric on an event type with no rows has mean 0: no relative lift, but the
    other metrics are still planned."""
    spec = tmp_path / "typo.yaml"
    spec.write_text(
        Path(SPEC)
        .read_text()
        .replace(
            "numerator: {event: purchase, aggregate: count}",
            "numerator: {event: purchse, aggregate: count}",
        )
    )
    code, out, err = looklift(capsys, "power", str(spec), "--db", str(simulated))
    assert code == 0, err
    assert "purchases_per_user: the baseline mean is 0" in err and "Traceback" not in err
    assert "tap_through_rate" in out

    code, out, err = looklift(
        capsys, "power", str(spec), "--db", str(simulated), "--metric", "purchases_per_user"
    )
    _one_line_exit_2(code, out, err, "the baseline mean is 0")


def test_bad_planning_inputs_are_one_line(
    simulated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = looklift(capsys, "power", SPEC, "--db", str(simulated), "--alpha", "2")
    _one_line_exit_2(code, out, err, "alpha must be in (0, 1)")
    code, out, err = looklift(capsys, "power", SPEC, "--db", str(simulated), "--users", "1")
    _one_line_exit_2(code, out, err, "n_control must be an integer >= 2")
