"""``looklift encode``, ``finetune`` and ``neighbors``: the encoders room on the command line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abtest.simulate.world import WorldSummary
from abtest.store import Store
from looklift import cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
        (
            ["encode", "--encoder", "siglip", "--dim", "32"],
            "siglip needs --checkpoint (a local folder or a hub id)",
        ),
        (
            ["finetune", "--towers", "siglip", "--no-encode"],
            "siglip towers need --checkpoint (a local folder or a hub id)",
        ),
        (["encode", "--dim", "many"], "--dim takes a number of dims or 'auto'"),
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


# ------------------------------------------------------------------------------------------
# Small catalogs
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fifty_items(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50-item marketplace: smaller than the 128 dims of the baseline's PCA."""
    from abtest.simulate.world import WorldConfig, build_world

    folder = tmp_path_factory.mktemp("fifty-items")
    return build_world(WorldConfig(n_items=50, n_users=20, seed=3), folder / "small.duckdb").db


def test_a_50_item_catalog_gets_49_dims_and_says_so(
    capsys: pytest.CaptureFixture[str], fifty_items: Path
) -> None:
    """PCA on n items has n - 1 components: the default, auto, takes them and says so."""
    db = str(fifty_items)
    code, out, err = run(capsys, "encode", "--db", db, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["dim"] == 49
    assert "cnn-pca: 49 dims, not 128: a PCA fitted on 50 photos has at most 49" in err

    code, _, err = run(capsys, "encode", "--db", db, "--dim", "128")
    assert code == 2 and "PCA to 128 dims needs at least 129 items" in err
    assert len(err.strip().splitlines()) == 1, err


def test_more_neighbors_than_other_items_says_how_many_were_written(
    capsys: pytest.CaptureFixture[str], fifty_items: Path
) -> None:
    """An item's neighbors are the other items: asked 100 of 50 items, 49 are written."""
    db = str(fifty_items)
    code, _, err = run(capsys, "encode", "--db", db, "--dim", "16", "--name", "small")
    assert code == 0, err
    code, out, err = run(
        capsys, "neighbors", "--db", db, "-e", "small", "--k", "100", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)[0]["n_rows"] == 50 * 49
    assert err.strip().splitlines() == [
        "note small: asked for 100 neighbors per item, but the catalog has 50 items: "
        "wrote 49 per item"
    ]
    _, _, err = run(capsys, "neighbors", "--db", db, "-e", "small", "--k", "49")
    assert "asked for" not in err


# ------------------------------------------------------------------------------------------
# SigLIP checkpoints without a hub (run as a user would: a fresh process, its environment)
# ------------------------------------------------------------------------------------------
LOOKLIFT = [sys.executable, "-m", "looklift.cli"]


@pytest.fixture(scope="module")
def tiny_siglip(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from encoders.catalog import read_catalog
    from encoders.siglip_init import init_siglip_checkpoint

    folder = tmp_path_factory.mktemp("tiny-siglip")
    return init_siglip_checkpoint(folder, read_catalog(db).titles)


def closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hubless_env(cache: Path, *, offline_mode: bool) -> dict[str, str]:
    """No reachable hub: offline mode, or a hub endpoint that refuses connections."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env["HF_HUB_CACHE"] = str(cache)
    if offline_mode:
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    return env


@pytest.mark.parametrize(
    ("verb", "offline_mode", "reason"),
    [
        (["encode", "--encoder", "siglip"], True, "HF_HUB_OFFLINE is set"),
        (["encode", "--encoder", "siglip"], False, "connection refused"),
        (["finetune", "--towers", "siglip", "--no-encode"], False, "connection refused"),
    ],
)
def test_a_hub_id_without_a_hub_fails_at_once_in_one_line(
    db: Path, tmp_path: Path, verb: list[str], offline_mode: bool, reason: str
) -> None:
    """Not 27-39 s of retries and 11 lines of warnings: one line, what was tried, what to do."""
    env = hubless_env(tmp_path / "hf-cache", offline_mode=offline_mode)
    args = [*verb, "--checkpoint", "acme/siglip-nowhere", "--db", str(db)]
    started = time.perf_counter()
    result = subprocess.run(
        [*LOOKLIFT, *args], capture_output=True, text=True, env=env, timeout=120
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert (
        "cannot load checkpoint 'acme/siglip-nowhere': tried a local folder of that name (none), "
        "the Hugging Face cache (no copy) and the hub (not reachable: " in lines[0]
    )
    assert reason in lines[0] and "--checkpoint ./siglip-nowhere" in lines[0]
    # The process itself takes about 4 s; retrying the hub adds 27-39 s. 25 s tells the
    # two apart on a loaded 2-core CI machine (a fresh clone's run once took 18 s).
    assert seconds < 25, f"took {seconds:.1f} s"


def test_a_cached_hub_model_loads_without_a_hub(
    db: Path, tiny_siglip: Path, tmp_path: Path
) -> None:
    """Without a hub, a hub id is found in the Hugging Face cache, without waiting on retries."""
    revision = "0" * 40
    repo = tmp_path / "hf-cache" / "models--acme--tiny-siglip"
    shutil.copytree(tiny_siglip, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    env = hubless_env(tmp_path / "hf-cache", offline_mode=False)
    args = ["encode", "-e", "siglip", "--checkpoint", "acme/tiny-siglip", "--name", "cached"]
    started = time.perf_counter()
    result = subprocess.run(
        [*LOOKLIFT, *args, "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dim"] == 32
    assert "Retrying" not in result.stderr
    assert seconds < 60, f"took {seconds:.1f} s"
