"""The journey's verbs from the command line: history, simulate, analyze, offline-eval, power."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from looklift.cli import run
from tests.conftest import served_copy

SPEC = str(Path(__file__).resolve().parents[2] / "examples" / "similar-looks.yaml")


@pytest.fixture(scope="module")
def db(small_world, tmp_path_factory) -> Path:
    return served_copy(small_world, tmp_path_factory.mktemp("journey") / "world.duckdb")


def looklift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_journey_from_the_command_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = looklift(capsys, "history", "--db", str(db), "--days", "7", "--format", "json")
    assert code == 0
    history = json.loads(out)
    assert history["policy"] == "cnn-pca" and history["impressions"] > 0

    code, out, err = looklift(capsys, "history", "--db", str(db), "--days", "7")
    assert code == 2 and "pass --replace" in err

    code, out, _ = looklift(
        capsys, "offline-eval", "--db", str(db), "--k", "1,5", "--format", "json"
    )
    assert code == 0
    offline = json.loads(out)
    assert offline["judgments_from"] == "search"
    # counts, as documented: judged queries, and judged (query, item) pairs over them
    assert isinstance(offline["n_queries"], int) and isinstance(offline["n_judged_items"], int)
    assert offline["n_queries"] == offline["comparison"]["n_queries"]
    assert offline["n_judged_items"] >= offline["n_queries"] > 0
    assert {(r["metric"], r["k"]) for r in offline["comparison"]["rows"]} >= {("ndcg", 5)}
    assert [c["policy"] for c in offline["counterfactual"]] == ["cnn-pca", "finetuned"]

    code, out, _ = looklift(capsys, "offline-eval", "--db", str(db), "--k", "5")
    assert code == 0 and "@5: finetuned vs cnn-pca" in out and "Counterfactual" in out
    assert f"{offline['n_queries']:,} judged queries" in out and "lift 95% CI" in out

    code, out, _ = looklift(capsys, "simulate", SPEC, "--db", str(db), "--days", "4")
    assert code == 0 and "true tap rate" in out and "exposures written" in out

    code, out, _ = looklift(capsys, "analyze", SPEC, "--db", str(db))
    assert code == 0
    assert "tap_through_rate" in out and "SRM" in out and "impressions_per_user" in out

    code, out, _ = looklift(capsys, "analyze", SPEC, "--db", str(db), "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["experiment"] == "similar-looks"
    assert len(result["comparisons"]) == 7 and result["health"]["srm"]["flagged"] is False

    code, out, _ = looklift(
        capsys, "analyze", SPEC, "--db", str(db), "--as-of", "2026-03-03", "--format", "json"
    )
    assert code == 0 and json.loads(out)["end"].startswith("2026-03-04")

    code, out, _ = looklift(capsys, "power", SPEC, "--db", str(db), "--lift", "0.1")
    assert code == 0 and "detectable lift" in out and "tap_through_rate" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "--policy", "nope"], "no neighbors for encoder 'nope'"),
        (["history", "--days", "0"], "--days must be at least 1"),
        (["offline-eval", "--k", "0"], "--k values must be positive"),
        (["offline-eval", "--encoders", "cnn-pca"], "two encoders"),
        (["simulate", SPEC, "--drop-exposures", "treatment"], "VARIANT=SHARE"),
        (["simulate", SPEC, "--users", "0"], "--users must be at least 1"),
        (["analyze", str(Path(SPEC).with_name("three-arms.yaml"))], "has no exposures"),
        (["analyze", SPEC, "--segments", "shoe_size"], "unknown segment 'shoe_size'"),
        (["power"], "give a baseline"),
        (["power", "--proportion", "1.5", "--lift", "0.1"], "--proportion must be between"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    needs_db = args[0] in {"history", "offline-eval", "simulate", "analyze"}
    code, out, err = looklift(capsys, *args, *(["--db", str(db)] if needs_db else []))
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for verb in (["analyze", SPEC], ["history"], ["offline-eval"], ["simulate", SPEC]):
        code, _, err = looklift(capsys, *verb, "--db", str(tmp_path / "missing.duckdb"))
        assert code == 2 and "not found" in err, (verb, err)
    assert list(tmp_path.iterdir()) == []


def test_an_injected_harm_reads_breached(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The treatment's module fails on 30% of views: fewer impressions per user, which the
    guardrail must flag in the terminal, the JSON and the report."""
    copy = tmp_path / "harmed.duckdb"
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:  # a fresh experiment on a copy of the world
        for table in ("exposures", "events", "truth_experiments"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    code, out, err = looklift(
        capsys,
        "simulate",
        SPEC,
        "--db",
        str(copy),
        "--days",
        "7",
        "--module-failures",
        "treatment=0.3",
    )
    assert code == 0, err
    code, out, _ = looklift(capsys, "analyze", SPEC, "--db", str(copy))
    assert code == 0
    assert "impressions_per_user got significantly worse" in out
    assert any(line.startswith("│") and "BREACHED" in line for line in out.splitlines())
    assert "guardrail impressions_per_user/treatment: one-sided p" in out
    code, out, _ = looklift(capsys, "analyze", SPEC, "--db", str(copy), "--format", "json")
    guard = next(c for c in json.loads(out)["comparisons"] if c["group"] == "guardrail")
    assert guard["guardrail_breached"] and guard["p_worse"] < 0.05
    html = tmp_path / "report.html"
    code, _, err = looklift(
        capsys, "report", SPEC, "--db", str(copy), "--out", str(html), "--no-offline"
    )
    assert code == 0, err
    page = html.read_text(encoding="utf-8")
    assert "BREACHED" in page and "Guardrails" in page and ">breached<" in page


def test_experiments_on_the_same_dates_are_simulated_together(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`simulate A.yaml B.yaml` is one run on one stream of traffic; B alone on A's dates,
    or A alone replacing the joint run, is refused in one line and writes nothing."""
    copy = tmp_path / "joint.duckdb"
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:  # a fresh database: the world and neighbors
        for table in ("exposures", "events", "truth_experiments", "simulation_runs"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    other = tmp_path / "other.yaml"
    other.write_text(
        Path(SPEC)
        .read_text(encoding="utf-8")
        .replace("key: similar-looks\n", "key: similar-looks-v2\n")
        .replace("range: [0.0, 0.7]", "range: [0.7, 1.0]"),
        encoding="utf-8",
    )
    short = ["--db", str(copy), "--days", "3", "--pre-days", "1"]
    code, out, err = looklift(capsys, "simulate", SPEC, *short)
    assert code == 0, err
    code, out, err = looklift(capsys, "simulate", str(other), *short, "--replace")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "already hold the traffic simulated for 'similar-looks' (run 1)" in err

    code, out, err = looklift(capsys, "simulate", SPEC, str(other), *short, "--replace")
    assert code == 0, err
    assert "similar-looks-v2: 2026-03-02 to 2026-03-05" in out
    assert (
        "events of 2 experiments" in out and "replaced the earlier run 1 ('similar-looks')" in out
    )
    before = copy.read_bytes()
    code, out, err = looklift(capsys, "simulate", SPEC, *short, "--replace")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'similar-looks' was simulated together with 'similar-looks-v2' in run 1" in err
    assert copy.read_bytes() == before

    code, out, err = looklift(
        capsys, "simulate", str(other), SPEC, *short, "--replace", "--format", "json"
    )
    assert code == 0, err
    summaries = json.loads(out)
    assert [s["experiment"] for s in summaries] == ["similar-looks-v2", "similar-looks"]
    assert {s["run_id"] for s in summaries} == {1}
    assert summaries[1]["simulated_with"] == ["similar-looks-v2"]
    for spec in (SPEC, str(other)):
        code, out, err = looklift(capsys, "analyze", spec, "--db", str(copy))
        assert code == 0 and "SRM" in out, err


def test_simulate_writes_parquet_as_a_warehouse_export(
    small_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = served_copy(small_world, tmp_path / "world.duckdb")
    (tmp_path / "taken").mkdir()
    args = ("simulate", SPEC, "--db", str(db), "--days", "2")
    code, out, err = looklift(capsys, *args, "--parquet", str(tmp_path / "taken"))
    assert code == 2 and "--parquet" in err and "exists" in err
    assert duckdb.connect(str(db), read_only=True).sql(
        "SELECT COUNT(*) FROM events"
    ).fetchall() == [(0,)]  # refused before simulating anything
    code, out, err = looklift(capsys, *args, "--parquet", str(tmp_path / "exports"))
    assert code == 0, err
    assert "as parquet under" in out
    con = duckdb.connect(str(db), read_only=True)
    [(events,)] = con.execute("SELECT COUNT(*) FROM events").fetchall()
    glob = tmp_path / "exports" / "events" / "day=*" / "*.parquet"
    assert duckdb.connect().execute(f"SELECT COUNT(*) FROM '{glob}'").fetchall() == [(events,)]
    days = con.execute("SELECT DISTINCT CAST(ts AS DATE) FROM events").fetchall()
    folders = {p.name for p in (tmp_path / "exports" / "events").glob("day=*")}
    assert folders == {f"day={d}" for (d,) in days}  # the pre-period's days too
