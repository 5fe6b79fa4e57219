"""``looklift encode``, ``finetune`` and ``neighbors``: the encoders room on the command line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from abtest.simulate.world import WorldSummary
from abtest.store import Store
from looklift import cli
from looklift.commands import encode, finetune, neighbors

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    """Register the verbs unless ``looklift.cli.COMMAND_MODULES`` already did."""
    names = {c.name for c in cli.app.registered_commands}
    for module in (encode, finetune, neighbors):
        if module.__name__.rsplit(".", 1)[1] not in names:
            module.register(cli.app)


@pytest.fixture(scope="module")
def db(small_world: WorldSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the small world (photos linked), for these tests to write into."""
    folder = tmp_path_factory.mktemp("cli-encoders")
    target = folder / small_world.db.name
    shutil.copy(small_world.db, target)
    (folder / small_world.images_dir.name).symlink_to(small_world.images_dir)
    return target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_explains_each_verb(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "encode", "--help")
    assert "Embed every catalog photo" in out and "cnn-pca" in out and "--input-size" in out
    _, out, _ = run(capsys, "finetune", "--help")
    assert "sigmoid" in out and "--freeze" in out and "--resume" in out and "--seed" in out
    _, out, _ = run(capsys, "neighbors", "--help")
    assert "item itself excluded" in out and "recall@k" in out and "--index" in out


def test_encode_finetune_neighbors_journey(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, err = run(capsys, "encode", "--db", str(db), "--dim", "32", "--format", "json")
    assert code == 0, err
    encoded = json.loads(out)
    assert encoded["name"] == "cnn-pca" and encoded["n_encoded"] == 240 and encoded["dim"] == 32

    code, out, err = run(
        capsys,
        *("finetune", "--db", str(db), "--steps", "20", "--batch-size", "64"),
        *("--eval-every", "10", "--format", "json"),
    )
    assert code == 0, err
    tuned = json.loads(out)
    assert tuned["finetune"]["steps"] == 20 and tuned["encode"]["name"] == "finetuned"
    assert tuned["finetune"]["last_loss"] < tuned["finetune"]["first_loss"]

    code, out, err = run(capsys, "neighbors", "--db", str(db), "--k", "5", "--format", "json")
    assert code == 0, err
    written = {r["encoder"]: r for r in json.loads(out)}
    assert written.keys() == {"cnn-pca", "finetuned"}
    assert all(r["n_rows"] == 240 * 5 and r["recall"] is None for r in written.values())
    with Store(db) as store:
        assert store.count("neighbors", "item_id = neighbor_id") == 0

    code, out, err = run(
        capsys, "neighbors", "--db", str(db), "-e", "cnn-pca", "--index", "hnsw", "-k", "5"
    )
    assert code == 0, err
    assert "recall@5" in out and "of the exact top-5" in out

    code, out, _ = run(capsys, "encode", "--list")
    assert code == 0 and {"cnn-pca", "siglip", "finetuned"} <= set(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["encode", "--encoder", "nope"], "unknown encoder 'nope'; known encoders:"),
        (
            ["encode", "--encoder", "siglip", "--checkpoint", "/no/such/ckpt"],
            "checkpoint not found",
        ),
        (["encode", "--option", "novalue"], "--option takes KEY=VALUE"),
        (["neighbors", "--index", "annoy"], "unknown index 'annoy'"),
        (["neighbors", "-e", "never"], "embeddings not found"),
        (["finetune", "--freeze", "image.trunc.*", "--no-encode"], "matches no parameter"),
        (["finetune", "--steps", "0"], "steps must be at least 1"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], db: Path, args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args, "--db", str(db))
    assert code == 2, err
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err


def test_a_missing_database_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "encode", "--db", str(tmp_path / "missing.duckdb"))
    assert code == 2 and "database not found" in err
    assert list(tmp_path.iterdir()) == []
