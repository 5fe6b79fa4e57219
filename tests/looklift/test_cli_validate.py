"""``looklift validate``: a table of valid specs, or every problem and exit code 2."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from looklift import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "validate", str(EXAMPLES / "similar-looks.yaml"), str(EXAMPLES / "three-arms.yaml")
    )
    assert code == 0, err
    assert "similar-looks" in out and "similar-looks-encoders" in out
    assert "variant treatment" in out and "finetuned" in out
    assert "2 valid experiment specs" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(EXAMPLES / "similar-looks.yaml"), "--format", "json")
    assert code == 0
    (spec,) = json.loads(out)
    assert spec["key"] == "similar-looks" and spec["file"].endswith("similar-looks.yaml")
    assert [v["encoder"] for v in spec["variants"]] == ["cnn-pca", "finetuned"]
    assert spec["schedule"]["start"].startswith("2026-03-02")


def test_a_bad_spec_exits_2_with_every_problem_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "key: x\nvariants:\n  - {name: a, weight: 0.5}\n  - {name: a, weight: 0.6}\n"
        "schedule: {start: 2026-03-02, end: 2026-03-01}\n"
    )
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for fragment in (
        f"{bad}:3: variants: weights sum to 1.1",
        f"{bad}:4: variants[1].name: duplicate variant name 'a'",
        f"{bad}:5: schedule: end",
    ):
        assert fragment in err


def test_overlapping_namespaces_between_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.yaml"
    text = (
        (EXAMPLES / "three-arms.yaml").read_text().replace("range: [0.7, 1.0]", "range: [0.6, 1.0]")
    )
    other.write_text(text)
    code, out, err = run(capsys, "validate", str(EXAMPLES / "similar-looks.yaml"), str(other))
    assert code == 2 and out == ""
    assert "namespace.range" in err and "overlaps" in err


def test_yaml_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("key: x\n  variants: [\n")
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 2 and f"{bad}:2: YAML syntax error" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "file not found" in err


def test_encoders_are_checked_against_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from abtest.store import Store

    db = tmp_path / "m.duckdb"
    with Store(db) as store:
        store.ingest(
            "neighbors",
            pl.DataFrame(
                {
                    "encoder": ["cnn-pca", "siglip"],
                    "item_id": [1, 1],
                    "rank": [1, 1],
                    "neighbor_id": [2, 2],
                    "score": [1.0, 1.0],
                }
            ),
        )
    spec = EXAMPLES / "similar-looks.yaml"
    code, _, err = run(capsys, "validate", str(spec), "--db", str(db))
    assert code == 2
    assert (
        "variants[1].encoder: unknown encoder 'finetuned'; known encoders: cnn-pca, siglip" in err
    )
    with Store(db) as store:
        store.ingest(
            "neighbors",
            pl.DataFrame(
                {
                    "encoder": ["finetuned"],
                    "item_id": [1],
                    "rank": [1],
                    "neighbor_id": [2],
                    "score": [1.0],
                }
            ),
        )
    code, out, err = run(capsys, "validate", str(spec), "--db", str(db))
    assert code == 0, err
    assert "encoders not checked" not in out


def test_a_database_without_neighbors_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    spec = tmp_path / "s.yaml"
    shutil.copy(EXAMPLES / "similar-looks.yaml", spec)
    code, _, err = run(capsys, "validate", str(spec), "--db", str(empty))
    assert code == 2 and "is not a looklift database" in err
    con = duckdb.connect(str(empty))
    con.execute("CREATE TABLE users (user_id VARCHAR)")  # looklift's, but no neighbors
    con.close()
    code, _, err = run(capsys, "validate", str(spec), "--db", str(empty))
    assert code == 2 and "has no neighbors table" in err
    code, _, err = run(capsys, "validate", str(spec), "--db", str(tmp_path / "none.duckdb"))
    assert code == 2 and "database not found" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.duckdb", "s.yaml"]


def test_with_db_what_has_no_rows_is_a_warning(
    world_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt event type or users column, and a sum over values that are all null,
    pass validation (the data may come later) but are each named, with the closest
    existing name, on stderr and in the JSON."""
    import datetime as dt

    from abtest.store import Store
    from tests.conftest import write_toy_neighbors

    write_toy_neighbors(world_copy, "cnn-pca")
    write_toy_neighbors(world_copy, "finetuned")
    with Store(world_copy) as store:
        user = store.fetch_one("SELECT min(user_id) FROM users")[0]  # type: ignore[index]
        store.ingest("users", pl.DataFrame({"user_id": ["u1"], "platform": ["ios"]}))
        store.ingest(
            "events",
            pl.DataFrame(
                {
                    "event_id": ["e1", "e2", "e3"],
                    "ts": [dt.datetime(2026, 3, 3)] * 3,
                    "user_id": [user] * 3,
                    "event_type": ["impression", "tap", "purchase"],
                    "value": [None, None, None],
                },
                schema_overrides={"value": pl.Float64},
            ),
        )
    text = (EXAMPLES / "similar-looks.yaml").read_text()
    spec = tmp_path / "typos.yaml"
    spec.write_text(
        text.replace("numerator: {event: purchase}\n", "numerator: {event: purchse}\n").replace(
            "platform: {$in:", "platfrom: {$in:"
        )
    )
    code, out, err = run(capsys, "validate", str(spec), "--db", str(world_copy))
    assert code == 0, err
    assert "1 valid experiment spec, 3 warnings" in out
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("looklift: warning: ") for line in lines)
    assert (
        "metric_definitions.purchase_conversion.numerator.event: no 'purchse' events in "
        f"{world_copy} (did you mean 'purchase'?)" in err
    )
    assert "targeting.platfrom: the users table" in err and "(did you mean 'platform'?)" in err
    assert "revenue_per_user.numerator.aggregate: every 'purchase' event" in err

    code, out, err = run(capsys, "validate", str(spec), "--db", str(world_copy), "--format", "json")
    assert code == 0 and len(err.strip().splitlines()) == 3
    (result,) = json.loads(out)
    assert [w["path"] for w in result["warnings"]] == [
        "metric_definitions.purchase_conversion.numerator.event",
        "metric_definitions.revenue_per_user.numerator.aggregate",
        "targeting.platfrom",
    ]

    # the examples themselves read only what the data has: no warning
    code, out, err = run(
        capsys, "validate", str(EXAMPLES / "three-arms.yaml"), "--db", str(world_copy)
    )
    assert code == 0 and err == "", err


BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in itertools.pairwise("abcdef")
)
"""Six levels of a "billion laughs": 9^6 nodes once expanded, from 330 bytes."""


def _example_with(old: str, new: str) -> str:
    text = (EXAMPLES / "similar-looks.yaml").read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(
            _example_with("end: 2026-03-16", "end: 2026-04-31"),
            ":193: schedule.end: '2026-04-31' is not a valid date or time: day is out of range",
            id="impossible-date",
        ),
        pytest.param(
            _example_with("hash_version: 2", "hash_version: " + "9" * 5000),
            ":46: hash_version: a 5,000-digit integer is too long",
            id="5000-digit-integer",
        ),
        pytest.param(
            _example_with("targeting:\n", "targeting:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n"),
            "nested deeper than 50 levels",
            id="5000-levels",
        ),
        pytest.param(
            BOMB,
            ":5: e[0]: aliases expand to more than 10,000 nodes",
            id="alias-bomb",
        ),
        pytest.param(
            _example_with("      k: 10 ", "      k: 100000000000000000000000000000 "),
            ":80: variants[0].params: k must be a positive integer of at most 100",
            id="k-1e29",
        ),
        pytest.param(
            _example_with("key: similar-looks", 'key: "similar-looks\\n"'),
            ":28: key: 'similar-looks\\n' is not a valid key",
            id="key-with-newline",
        ),
        pytest.param(
            _example_with("  - name: treatment", '  - name: "treatment\\n"'),
            "variants[1].name: 'treatment\\n' is not a safe identifier",
            id="variant-with-newline",
        ),
        pytest.param(
            _example_with("coverage: 1.0", 'coverage: 1.0\n"[/]": 1'),
            "[/]: unknown field",
            id="rich-markup-in-a-field",
        ),
    ],
)
def test_hostile_yaml_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    """Each of these crashed validate with a traceback (exit 1), exhausted memory, or was
    accepted; now each is one line naming the file, the field and the problem."""
    spec = tmp_path / "hostile.yaml"
    spec.write_text(text)
    code, out, err = run(capsys, "validate", str(spec))
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"looklift: error: {spec}") and says in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.yaml"]


# --------------------------------------------------------------------------- metric filters,
# windows, ranking and quantile metrics
FILTERED = (
    "numerator: {event: purchase}\n",
    "numerator: {event: purchase, filter: {brand: {$in: [acme]}, "
    "source_item_id: {$exists: true}}}\n",
)
"""The example's purchase conversion counting only module purchases of one brand (a team's
own column of the events)."""


def _db_with_events(tmp_path: Path, extra: dict[str, list[object]]) -> Path:
    """A database whose neighbors know the example's encoders and whose events have the
    data model's columns and ``extra`` ones."""
    import datetime as dt

    from abtest.store import Store

    db = tmp_path / "events.duckdb"
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
        store.ingest("users", pl.DataFrame({"user_id": ["u1"], "platform": ["ios"]}))
        store.ingest(
            "events",
            pl.DataFrame(
                {
                    "event_id": ["e1", "e2", "e3"],
                    "ts": [dt.datetime(2026, 3, 3)] * 3,
                    "user_id": ["u1"] * 3,
                    "event_type": ["impression", "tap", "purchase"],
                    "value": [None, None, 10.0],
                    **extra,
                }
            ),
        )
    return db


def test_a_filter_on_a_column_the_events_lack_exits_2_with_db_and_warns_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "filtered.yaml"
    spec.write_text(_example_with(*FILTERED))
    db = _db_with_events(tmp_path, {"colour": ["red", "red", "blue"]})
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, "validate", str(spec), "--db", str(db))
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        f"{spec}: metric_definitions.purchase_conversion.numerator.filter.brand: the events "
        f"table of {db} has no column 'brand'" in err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    code, out, err = run(capsys, "validate", str(spec))
    assert code == 0, err
    assert "1 valid experiment spec" in out
    (warning,) = err.strip().splitlines()
    assert warning.startswith("looklift: warning: ")
    assert "numerator.filter.brand: 'brand' is not a column of looklift's events table" in warning
    assert "can only be checked against a database (--db)" in warning


def test_a_filter_on_a_team_s_own_column_passes_with_db_when_the_types_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "filtered.yaml"
    spec.write_text(_example_with(*FILTERED))
    db = _db_with_events(tmp_path, {"brand": ["acme", "acme", "zeta"]})
    code, out, err = run(capsys, "validate", str(spec), "--db", str(db))
    assert code == 0 and err == "", err
    assert "purchase_conversion (proportion, filtered)" in out
    spec.write_text(
        _example_with(FILTERED[0], "numerator: {event: purchase, filter: {brand: 3}}\n")
    )
    code, _, err = run(capsys, "validate", str(spec), "--db", str(db))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "numerator.filter.brand: column 'brand' holds text; compare it with text, got 3" in err


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        pytest.param(
            *FILTERED[:1],
            "numerator: {event: purchase, filter: {position: {$lte2: 3}}}\n",
            "metric_definitions.purchase_conversion.numerator.filter.position.$lte2: unknown "
            "operator '$lte2'; did you mean '$lte'?",
            id="unknown-operator",
        ),
        pytest.param(
            *FILTERED[:1],
            "numerator: {event: purchase}\n    window: {delay: 2d, within: 1d}\n",
            "metric_definitions.purchase_conversion.window: within (1d) is shorter than delay (2d)",
            id="window-shorter-than-its-delay",
        ),
        pytest.param(
            *FILTERED[:1],
            "numerator: {event: purchase}\n    window: {within: 1 day}\n",
            "metric_definitions.purchase_conversion.window.within: write a duration",
            id="bad-duration",
        ),
        pytest.param(
            "  purchases_per_user:\n    kind: mean\n",
            "  purchases_per_user:\n    kind: quantile\n    quantile: 1.5\n",
            "metric_definitions.purchases_per_user.quantile: Input should be less than 1",
            id="quantile-outside-0-1",
        ),
        pytest.param(
            "  purchases_per_user:\n    kind: mean\n    numerator: {event: purchase, aggregate: "
            "count}\n",
            "  purchases_per_user:\n    kind: ndcg\n    k: 0\n",
            "metric_definitions.purchases_per_user.k: Input should be greater than or equal to 1",
            id="k-below-1",
        ),
    ],
)
def test_mistakes_in_the_new_metric_fields_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, says: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(_example_with(old, new))
    code, out, err = run(capsys, "validate", str(spec))
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"looklift: error: {spec}:") and says in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
