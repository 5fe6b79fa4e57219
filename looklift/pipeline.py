"""The end-to-end journey behind ``looklift demo``, one stage at a time.

marketplace → encoders (baseline CNN+PCA and the fine-tuned variant) → neighbors
→ historical logs → offline evaluation → the experiment of ``examples/`` → 14
days of simulated traffic → analysis → report.

Each stage writes into the demo's DuckDB file (and the artifacts beside it)
and records a fingerprint of its settings in ``demo_stages``. A stage whose
fingerprint is unchanged is reused, so a second run only redoes what changed;
a rebuilt world starts a new file, so everything after it is redone too.
``fresh=True`` rebuilds everything.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abtest.analysis import AnalysisResult, analyze
from abtest.simulate.history import HistoryConfig, simulate_history
from abtest.simulate.traffic import (
    TRAFFIC_VERSION,
    TrafficConfig,
    TrafficSummary,
    simulate_traffic,
)
from abtest.simulate.world import WorldConfig, build_world
from abtest.spec import ExperimentSpec, load_spec
from abtest.store import Store
from looklift.offline import OfflineResult, run_offline_eval

ProgressFn = Callable[[str, int, int], None]
STAGES_TABLE = "demo_stages"
EXAMPLE_SPEC = Path(__file__).resolve().parent.parent / "examples" / "similar-looks.yaml"
BASELINE, FINETUNED = "cnn-pca", "finetuned"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and places of the demo run."""

    out_dir: Path = Path("demo-output")
    n_items: int = 5000
    n_users: int = 20000
    seed: int = 0
    history_days: int = 21
    spec_path: Path = EXAMPLE_SPEC
    fresh: bool = False

    @classmethod
    def quick(cls, **kw: Any) -> DemoConfig:
        """A smaller world that runs in about a minute."""
        settings = {
            "out_dir": Path("demo-output/quick"),
            "n_items": 1000,
            "n_users": 6000,
            "history_days": 14,
        }
        return cls(**(settings | kw))

    @property
    def db(self) -> Path:
        return self.out_dir / "looklift.duckdb"

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"


@dataclass(frozen=True)
class StageResult:
    name: str
    seconds: float
    reused: bool
    detail: str


@dataclass
class DemoResult:
    """What the journey produced, for the terminal summary."""

    config: DemoConfig
    stages: list[StageResult] = field(default_factory=list)
    spec: ExperimentSpec | None = None
    offline: OfflineResult | None = None
    traffic: TrafficSummary | None = None
    analysis: AnalysisResult | None = None
    truth: Any = None
    report_paths: Any = None

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


# ---------------------------------------------------------------------------------------
# Reuse bookkeeping
# ---------------------------------------------------------------------------------------
def _fingerprint(**settings: Any) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def _recorded(db: Path, stage: str) -> str | None:
    if not db.exists():
        return None
    try:
        with Store(db, read_only=True) as store:
            if not store.has_table(STAGES_TABLE):
                return None
            row = store.fetch_one(
                f"SELECT fingerprint FROM {STAGES_TABLE} WHERE stage = ?", [stage]
            )
    except Exception:  # an unreadable file is rebuilt, not reused
        return None
    return row[0] if row else None


def _record(store: Store, stage: str, fingerprint: str) -> None:
    store.con.execute(
        f"CREATE TABLE IF NOT EXISTS {STAGES_TABLE} (stage VARCHAR, fingerprint VARCHAR, "
        "finished_at TIMESTAMP)"
    )
    store.con.execute(f"DELETE FROM {STAGES_TABLE} WHERE stage = ?", [stage])
    store.con.execute(
        f"INSERT INTO {STAGES_TABLE} VALUES (?, ?, ?)",
        [stage, fingerprint, dt.datetime.now().replace(microsecond=0)],
    )


class _Runner:
    """Runs stages in order, reusing those whose fingerprint (and upstream) is unchanged."""

    def __init__(self, config: DemoConfig, on_stage: Callable[[StageResult], None]) -> None:
        self.config = config
        self.on_stage = on_stage
        self.upstream_rebuilt = config.fresh
        self.result = DemoResult(config=config)

    def stage(
        self, name: str, fingerprint: str, work: Callable[[], str], always: bool = False
    ) -> None:
        reuse = (
            not always
            and not self.upstream_rebuilt
            and _recorded(self.config.db, name) == fingerprint
        )
        started = time.perf_counter()
        if reuse:
            detail = "unchanged since the last run"
        else:
            detail = work()
            if not always:  # stages that run every time only read; later stages stay valid
                with Store(self.config.db) as store:
                    _record(store, name, fingerprint)
                self.upstream_rebuilt = True
        stage = StageResult(name, time.perf_counter() - started, reuse, detail)
        self.result.stages.append(stage)
        self.on_stage(stage)


# ---------------------------------------------------------------------------------------
# The journey
# ---------------------------------------------------------------------------------------
def run_demo(
    config: DemoConfig, progress: ProgressFn, on_stage: Callable[[StageResult], None]
) -> DemoResult:
    """Run every stage in order; ``on_stage`` is called as each one finishes."""
    run = _Runner(config, on_stage)
    db = config.db
    spec_text = config.spec_path.read_text()
    spec = load_spec(config.spec_path)
    run.result.spec = spec
    world = WorldConfig(n_items=config.n_items, n_users=config.n_users, seed=config.seed)

    def marketplace() -> str:
        config.out_dir.mkdir(parents=True, exist_ok=True)
        summary = build_world(world, db, overwrite=True, progress=progress)
        return (
            f"{summary.n_items:,} items, {summary.n_users:,} users; "
            f"contact sheet {summary.contact_sheet}"
        )

    run.stage("marketplace", _fingerprint(**asdict(world)), marketplace)

    def encoders() -> str:
        from encoders import (
            FinetuneConfig,
            FinetunedEncoder,
            encode_catalog,
            finetune,
            write_neighbors,
        )

        encode_catalog(db, BASELINE, progress=progress)
        trained = finetune(db, FinetuneConfig(seed=config.seed), progress=progress)
        encode_catalog(db, FinetunedEncoder(trained.out_dir), FINETUNED, progress=progress)
        for name in (BASELINE, FINETUNED):
            write_neighbors(db, name, k=20, progress=progress)
        return (
            f"{BASELINE} and {FINETUNED} embeddings (fine-tuned {trained.steps} steps, loss "
            f"per pair {trained.first_loss:.4f} → {trained.last_loss:.4f}); 20 neighbors per item"
        )

    run.stage("encoders", _fingerprint(seed=config.seed), encoders)

    history = HistoryConfig(
        policy=BASELINE,
        start=spec.schedule.start.date() - dt.timedelta(days=config.history_days + 7)
        if spec.schedule
        else dt.date(2026, 2, 1),
        days=config.history_days,
        # The logged module shows as many items as the experiment's control, so that the
        # tap rate predicted offline is comparable with the one measured online.
        k=int(spec.variants[0].params.get("k", 5)),  # type: ignore[arg-type]
        seed=config.seed,
    )

    def logs() -> str:
        with Store(db) as store:
            summary = simulate_history(
                store,
                history,
                replace=True,
                progress=lambda d, t: progress("history", d, t),
            )
        return (
            f"{summary.views:,} module views served by {BASELINE} "
            f"({summary.start} to {summary.end}), tap rate {summary.tap_rate:.2%}; "
            f"{summary.search_impressions:,} search impressions for judgments"
        )

    run.stage("history", _fingerprint(**asdict(history)), logs)

    def offline() -> str:
        with Store(db, read_only=True) as store:
            run.result.offline = run_offline_eval(store, [BASELINE, FINETUNED], seed=config.seed)
        row = run.result.offline.comparison.get("ndcg", 5)
        return (
            f"nDCG@5 {row.mean_a:.3f} → {row.mean_b:.3f} ({row.lift:+.1%}, "
            f"{run.result.offline.comparison.confidence:.0%} CI "
            f"[{row.lift_ci[0]:+.1%}, {row.lift_ci[1]:+.1%}])"
        )

    run.stage("offline evaluation", "", offline, always=True)

    traffic = TrafficConfig(seed=config.seed)

    def experiment() -> str:
        with Store(db) as store:
            summary = simulate_traffic(
                store,
                spec,
                traffic,
                replace=True,
                progress=lambda d, t: progress("traffic", d, t),
            )
        run.result.traffic = summary
        exposed = ", ".join(f"{v} {n:,}" for v, n in summary.exposed.items())
        true_rates = ", ".join(
            f"{t.variant} {t.tap_rate:.2%} taps/impression, {t.purchases_per_user:.3f} "
            "purchases/user"
            for t in summary.truth
        )
        return (
            f"{spec.key}: {summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}, exposed users "
            f"{exposed}; {summary.events_written:,} events; the simulator's true rates: "
            f"{true_rates}"
        )

    run.stage(
        "experiment traffic",
        # The simulator's version too: a demo database simulated by an older one is
        # simulated again (replacing exactly that earlier simulation).
        _fingerprint(spec=spec_text, simulator=TRAFFIC_VERSION, **asdict(traffic)),
        experiment,
    )

    def analysis() -> str:
        with Store(db, read_only=True) as store:
            run.result.analysis = analyze(store, spec)
        return run.result.analysis.decision.headline

    run.stage("analysis", "", analysis, always=True)

    def report() -> str:
        from looklift.commands.report import (
            build_report_inputs,
            section_from_offline,
            simulator_truth,
        )
        from reports import write_report

        with Store(db, read_only=True) as store:
            offline_section = (
                section_from_offline(spec, [run.result.offline]) if run.result.offline else None
            )
            inputs = build_report_inputs(
                store,
                spec,
                spec_text,
                spec_name=config.spec_path.name,
                result=run.result.analysis,
                offline=offline_section,
                truth=True,
                seed=config.seed,
            )
            run.result.truth = simulator_truth(store, spec)
        run.result.report_paths = write_report(inputs, config.report)
        return f"{config.report} (+ .md, .json)"

    run.stage("report", "", report, always=True)
    return run.result
