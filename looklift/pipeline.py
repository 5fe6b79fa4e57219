"""The end-to-end journey behind ``looklift demo``, one stage at a time.

Each stage reads and writes the demo's DuckDB file (and the artifacts beside
it); a stage whose outputs already exist for the same settings is reused, so a
second run only redoes what changed. ``fresh=True`` rebuilds everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from abtest.simulate.world import WorldConfig, WorldSummary, build_world
from abtest.store import Store

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and places of the demo run."""

    out_dir: Path = Path("demo-output")
    n_items: int = 2000
    n_users: int = 10000
    seed: int = 0
    fresh: bool = False

    @classmethod
    def quick(cls, out_dir: Path = Path("demo-output/quick"), **kw: object) -> DemoConfig:
        return cls(out_dir=out_dir, n_items=600, n_users=3000, **kw)  # type: ignore[arg-type]

    @property
    def db(self) -> Path:
        return self.out_dir / "looklift.duckdb"


@dataclass(frozen=True)
class StageResult:
    name: str
    seconds: float
    reused: bool
    detail: str


@dataclass
class DemoResult:
    config: DemoConfig
    stages: list[StageResult] = field(default_factory=list)
    world: WorldSummary | None = None


def _world_matches(config: DemoConfig) -> bool:
    if not config.db.exists():
        return False
    try:
        with Store(config.db, read_only=True) as store:
            if not store.has_table("truth_world"):
                return False
            row = store.fetch_one("SELECT n_items, n_users, seed FROM truth_world")
    except Exception:  # an unreadable file is rebuilt, not reused
        return False
    return row == (config.n_items, config.n_users, config.seed)


def stage_world(
    config: DemoConfig, progress: ProgressFn
) -> tuple[StageResult, WorldSummary | None]:
    started = time.perf_counter()
    if not config.fresh and _world_matches(config):
        return StageResult("marketplace", 0.0, True, f"reused {config.db}"), None
    config.out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_world(
        WorldConfig(n_items=config.n_items, n_users=config.n_users, seed=config.seed),
        config.db,
        overwrite=True,
        progress=progress,
    )
    detail = (
        f"{summary.n_items:,} items, {summary.n_users:,} users; "
        f"contact sheet {summary.contact_sheet}"
    )
    return StageResult("marketplace", time.perf_counter() - started, False, detail), summary


def run_demo(
    config: DemoConfig, progress: ProgressFn, on_stage: Callable[[StageResult], None]
) -> DemoResult:
    """Run every stage in order; ``on_stage`` is called as each one finishes."""
    result = DemoResult(config=config)
    stage, result.world = stage_world(config, progress)
    result.stages.append(stage)
    on_stage(stage)
    return result
