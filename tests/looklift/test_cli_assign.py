"""``looklift assign``: a parquet of assignments, written atomically, or exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.assignment import Assigner
from abtest.spec import load_spec
from abtest.store import Store
from looklift import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO = EXAMPLES / "similar-looks.yaml"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 5000
    path = tmp_path / "users.parquet"
    pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "platform": rng.choice(["ios", "android", "web", "tv"], n),
            "country": rng.choice(["JP", "US", "GB"], n),
        }
    ).write_parquet(path)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_assigns_every_user_like_the_library(
    tmp_path: Path, users: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "assignments.parquet"
    code, stdout, err = run(capsys, "assign", str(DEMO), "--users", str(users), "--out", str(out))
    assert code == 0, err
    assert "control" in stdout and "treatment" in stdout and "wrote" in stdout
    result = pl.read_parquet(out)
    assert result.columns == [
        "experiment",
        "user_id",
        "variant",
        "encoder",
        "in_experiment",
        "reason",
        "bucket",
    ]
    frame = pl.read_parquet(users)
    expected = Assigner(load_spec(DEMO)).assign_frame(frame).to_frame()
    assert result.equals(expected)
    assert set(result["reason"]) == {"assigned", "namespace", "targeting"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_empty_and_missing_ids_are_kept_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GrowthBook's rule: a user without a hash attribute is not in the experiment.
    # The row stays in the output with its id as given (an empty id used to come
    # back as null), in_experiment false and reason no_unit.
    users = tmp_path / "users.parquet"
    ids = ["u1", "", None, "u2"]
    pl.DataFrame({"user_id": ids, "platform": ["ios"] * 4}).write_parquet(users)
    out = tmp_path / "a.parquet"
    code, stdout, err = run(
        capsys, "assign", str(DEMO), "--users", str(users), "--out", str(out), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(stdout)["reasons"]["no_unit"] == 2
    result = pl.read_parquet(out)
    assert result["user_id"].to_list() == ids
    assert result["in_experiment"].to_list()[1:3] == [False, False]
    assert result["reason"].to_list()[1:3] == ["no_unit", "no_unit"]


def test_json_summary_forced_units_and_exposures(
    tmp_path: Path, users: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "m.duckdb"
    with Store(db) as store:
        store.ingest(
            "neighbors",
            pl.DataFrame(
                {
                    "encoder": ["cnn-pca", "finetuned"],
                    "item_id": [1, 1],
                    "rank": [1, 1],
                    "neighbor_id": [2, 2],
                    "score": [1.0, 1.0],
                }
            ),
        )
    out = tmp_path / "a.parquet"
    code, stdout, err = run(
        capsys,
        "assign",
        str(DEMO),
        "--users",
        str(users),
        "--out",
        str(out),
        "--db",
        str(db),
        "--record-exposures",
        "--at",
        "2026-03-03T08:00:00",
        "--force",
        "u1=control",
        "--format",
        "json",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["units"] == 5000 and summary["reasons"]["forced"] == 1
    result = pl.read_parquet(out)
    row = result.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert row["variant"] == "control" and row["reason"] == "forced"
    assigned = result.filter(pl.col("reason") == "assigned")
    assert summary["exposures_recorded"] == assigned.height
    with Store(db, read_only=True) as store:
        exposures = store.query("SELECT * FROM exposures")
    assert exposures.height == assigned.height
    assert exposures["ts"].unique().to_list()[0].isoformat() == "2026-03-03T08:00:00"
    assert "u1" not in exposures["user_id"].to_list()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--force", "u1=nope"], "forced variant 'nope' for unit 'u1' is not a variant"),
        (["--force", "u1"], "--force takes UNIT=VARIANT"),
        (["--record-exposures"], "--record-exposures needs --db"),
    ],
)
def test_user_mistakes_write_nothing(
    tmp_path: Path,
    users: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "a.parquet"
    code, stdout, err = run(
        capsys, "assign", str(DEMO), "--users", str(users), "--out", str(out), *extra
    )
    assert code == 2 and stdout == "" and message in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.parquet"]


def test_users_without_the_unit_or_targeted_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_unit = tmp_path / "no_unit.parquet"
    pl.DataFrame({"id": ["a"], "platform": ["ios"]}).write_parquet(no_unit)
    code, _, err = run(
        capsys, "assign", str(DEMO), "--users", str(no_unit), "--out", str(tmp_path / "a.parquet")
    )
    assert code == 2 and "no 'user_id' column" in err
    no_platform = tmp_path / "no_platform.parquet"
    pl.DataFrame({"user_id": ["a"]}).write_parquet(no_platform)
    code, _, err = run(
        capsys,
        "assign",
        str(DEMO),
        "--users",
        str(no_platform),
        "--out",
        str(tmp_path / "a.parquet"),
    )
    assert code == 2 and "reads 'platform'" in err
    not_parquet = tmp_path / "users.parquet"
    not_parquet.write_text("hello")
    code, _, err = run(
        capsys,
        "assign",
        str(DEMO),
        "--users",
        str(not_parquet),
        "--out",
        str(tmp_path / "a.parquet"),
    )
    assert code == 2 and "users.parquet: cannot read" in err
    code, _, err = run(
        capsys,
        "assign",
        str(DEMO),
        "--users",
        str(tmp_path / "none.parquet"),
        "--out",
        str(tmp_path / "a.parquet"),
    )
    assert code == 2 and "users file not found" in err
    assert not (tmp_path / "a.parquet").exists()


def test_an_invalid_spec_writes_nothing(
    tmp_path: Path, users: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("weight: 0.5", "weight: 0.4", 1))
    out = tmp_path / "a.parquet"
    out.write_bytes(b"previous")
    code, _, err = run(capsys, "assign", str(bad), "--users", str(users), "--out", str(out))
    assert code == 2 and "weights sum to 0.9" in err
    assert out.read_bytes() == b"previous"  # the old file is untouched


def _spec_targeting_app_version(tmp_path: Path) -> Path:
    """The demo spec, targeted on an attribute of the team's own (its commented example)."""
    text = DEMO.read_text().replace(
        "  platform: {$in: [ios, android, web]}", '  app_version: {$vgte: "5.2.0"}'
    )
    assert 'app_version: {$vgte: "5.2.0"}' in text
    path = tmp_path / "by-version.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", ["csv", "jsonl", "tsv"])
def test_users_as_csv_or_json_lines_assign_like_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """One reader for `assign` and `ingest`: text formats give the same assignments as
    parquet, ids stay as written ("007"), and an extra attribute can be targeted."""
    spec = _spec_targeting_app_version(tmp_path)
    rng = np.random.default_rng(1)
    n = 600
    frame = pl.DataFrame(
        {
            "user_id": [f"{i:03d}" for i in range(n)],
            "app_version": rng.choice(["5.1.9", "5.2.0", "5.10.1", "4.0"], n),
            "is_new": rng.choice([True, False], n),
        }
    )
    parquet = tmp_path / "users.parquet"
    frame.write_parquet(parquet)
    text = tmp_path / f"users.{kind}"
    if kind == "jsonl":
        frame.write_ndjson(text)
    else:
        frame.write_csv(text, separator="\t" if kind == "tsv" else ",")
    results = []
    for source in (parquet, text):
        out = tmp_path / f"{source.suffix[1:]}.out.parquet"
        code, _, err = run(capsys, "assign", str(spec), "--users", str(source), "--out", str(out))
        assert code == 0, err
        results.append(pl.read_parquet(out))
    assert results[1].equals(results[0])
    assert results[1]["user_id"].to_list()[:3] == ["000", "001", "002"]
    version = dict(zip(frame["user_id"], frame["app_version"], strict=True))
    targeted = results[1].filter(pl.col("reason") == "targeting")["user_id"]
    entered = results[1].filter(pl.col("in_experiment"))["user_id"]
    assert len(targeted) > 50 and len(entered) > 50
    assert {version[u] for u in targeted} == {"5.1.9", "4.0"}  # compared as versions,
    assert {version[u] for u in entered} == {"5.2.0", "5.10.1"}  # not as text


def test_a_bad_value_in_a_users_csv_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id,platform,is_new\na,ios,true\nb,web,sometimes\n")
    out = tmp_path / "a.parquet"
    code, stdout, err = run(capsys, "assign", str(DEMO), "--users", str(users), "--out", str(out))
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and "row 2, column 'is_new': expected true or false" in err
    assert not out.exists()


def test_an_exposure_time_with_an_offset_is_stored_in_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--at 2026-03-03T10:00:00+09:00`` records exposures at 01:00 UTC, from a users
    file in CSV whose own timestamps carry offsets too (read as ``ingest`` reads them)."""
    db = tmp_path / "m.duckdb"
    with Store(db) as store:
        store.ingest(
            "neighbors",
            pl.DataFrame(
                {
                    "encoder": ["cnn-pca", "finetuned"],
                    "item_id": [1, 1],
                    "rank": [1, 1],
                    "neighbor_id": [2, 2],
                    "score": [1.0, 1.0],
                }
            ),
        )
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,platform,first_seen_at\n"
        + "".join(f"u{i},ios,2026-03-0{1 + i % 2}T23:30:00-05:00\n" for i in range(300))
    )
    out = tmp_path / "a.parquet"
    code, stdout, err = run(
        capsys,
        "assign",
        str(DEMO),
        "--users",
        str(users),
        "--out",
        str(out),
        "--db",
        str(db),
        "--record-exposures",
        "--at",
        "2026-03-03T10:00:00+09:00",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(stdout)["exposures_recorded"] > 0
    with Store(db, read_only=True) as store:
        stamps = store.query("SELECT DISTINCT ts FROM exposures")["ts"].to_list()
    assert [t.isoformat() for t in stamps] == ["2026-03-03T01:00:00"]


def test_spark_writes_the_same_assignments_as_a_parquet_folder(
    spark_session, capsys: pytest.CaptureFixture[str], users: Path, tmp_path: Path
) -> None:
    local, folder = tmp_path / "local.parquet", tmp_path / "spark"
    assert run(capsys, "assign", str(DEMO), "--users", str(users), "--out", str(local))[0] == 0
    code, out, err = run(
        capsys, "assign", str(DEMO), "--users", str(users), "--out", str(folder),
        "--engine", "spark", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    want = pl.read_parquet(local)
    got = pl.read_parquet(folder / "*.parquet")
    columns = list(want.columns)
    assert got.sort(columns, nulls_last=True).equals(want.sort(columns, nulls_last=True))
    assert summary["units"] == want.height
    assert summary["variants"] == dict(
        want.filter(pl.col("in_experiment")).group_by("variant").len().iter_rows()
    )
    assert not list(tmp_path.glob(".spark*"))  # no temporary folder left


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--record-exposures", "--db", "x.duckdb"), "--record-exposures writes to a DuckDB"),
        (("--users-csv",), "reads users as parquet"),
    ],
)
def test_spark_mistakes_are_one_line(
    spark_session,
    capsys: pytest.CaptureFixture[str],
    users: Path,
    tmp_path: Path,
    extra: tuple[str, ...],
    message: str,
) -> None:
    source = users
    if extra == ("--users-csv",):
        source = tmp_path / "users.csv"
        pl.read_parquet(users).write_csv(source)
        extra = ()
    code, out, err = run(
        capsys, "assign", str(DEMO), "--users", str(source), "--out", str(tmp_path / "o"),
        "--engine", "spark", *extra,
    )  # fmt: skip
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
