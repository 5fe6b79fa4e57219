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
from typing import TYPE_CHECKING, Any

from abtest.analysis import AnalysisResult, analyze
from abtest.analysis.decision_text import decision_text
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
from looklift.reporting import build_report_inputs, section_from_offline, tap_rate_metric
from reports import write_report

if TYPE_CHECKING:
    from abtest.simulate.truth import SimulatorTruth
    from looklift.console import ProgressFn
    from reports import ReportPaths

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
    truth: SimulatorTruth | None = None
    report_paths: ReportPaths | None = None
    tap_rate_metric: str | None = None
    """The experiment's taps-per-impression metric: the online counterpart of the
    counterfactual tap rate predicted offline."""

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
    spec_text = config.spec_path.read_text()
    journey = _Journey(config, load_spec(config.spec_path), spec_text, progress, run.result)
    world = WorldConfig(n_items=config.n_items, n_users=config.n_users, seed=config.seed)
    run.stage("marketplace", _fingerprint(**asdict(world)), lambda: journey.marketplace(world))
    run.stage("encoders", _fingerprint(seed=config.seed), journey.encoders)
    history = journey.history_config()
    run.stage("history", _fingerprint(**asdict(history)), lambda: journey.history(history))
    run.stage("offline evaluation", "", journey.offline, always=True)
    traffic = TrafficConfig(seed=config.seed)
    run.stage(
        "experiment traffic",
        # The simulator's version too: a demo database simulated by an older one is
        # simulated again (replacing exactly that earlier simulation).
        _fingerprint(spec=spec_text, simulator=TRAFFIC_VERSION, **asdict(traffic)),
        lambda: journey.experiment(traffic),
    )
    run.stage("analysis", "", journey.analysis, always=True)
    run.stage("report", "", journey.report, always=True)
    return run.result


class _Journey:
    """The work of each stage, on the demo's database; each returns its line of detail
    and leaves what the terminal summary needs in ``result``."""

    def __init__(
        self,
        config: DemoConfig,
        spec: ExperimentSpec,
        spec_text: str,
        progress: ProgressFn,
        result: DemoResult,
    ) -> None:
        self.config, self.spec, self.spec_text = config, spec, spec_text
        self.db, self.progress, self.result = config.db, progress, result
        result.spec = spec
        result.tap_rate_metric = tap_rate_metric(spec)

    def marketplace(self, world: WorldConfig) -> str:
        self.config.out_dir.mkdir(parents=True, exist_ok=True)
        summary = build_world(world, self.db, overwrite=True, progress=self.progress)
        return (
            f"{summary.n_items:,} items, {summary.n_users:,} users; "
            f"contact sheet {summary.contact_sheet}"
        )

    def encoders(self) -> str:
        from encoders import (
            FinetuneConfig,
            FinetunedEncoder,
            encode_catalog,
            finetune,
            write_neighbors,
        )

        db, progress = self.db, self.progress
        encode_catalog(db, BASELINE, progress=progress)
        trained = finetune(db, FinetuneConfig(seed=self.config.seed), progress=progress)
        encode_catalog(db, FinetunedEncoder(trained.out_dir), FINETUNED, progress=progress)
        for name in (BASELINE, FINETUNED):
            write_neighbors(db, name, k=20, progress=progress)
        return (
            f"{BASELINE} and {FINETUNED} embeddings (fine-tuned {trained.steps} steps, loss "
            f"per pair {trained.first_loss:.4f} → {trained.last_loss:.4f}); 20 neighbors per item"
        )

    def history_config(self) -> HistoryConfig:
        spec, config = self.spec, self.config
        return HistoryConfig(
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

    def history(self, history: HistoryConfig) -> str:
        with Store(self.db) as store:
            summary = simulate_history(
                store,
                history,
                replace=True,
                progress=lambda d, t: self.progress("history", d, t),
            )
        return (
            f"{summary.views:,} module views served by {BASELINE} "
            f"({summary.start} to {summary.end}), tap rate {summary.tap_rate:.2%}; "
            f"{summary.search_impressions:,} search impressions for judgments"
        )

    def offline(self) -> str:
        with Store(self.db, read_only=True) as store:
            offline = run_offline_eval(store, [BASELINE, FINETUNED], seed=self.config.seed)
        self.result.offline = offline
        row = offline.comparison.get("ndcg", 5)
        return (
            f"nDCG@5 {row.mean_a:.3f} → {row.mean_b:.3f} ({row.lift:+.1%}, "
            f"{offline.comparison.confidence:.0%} CI "
            f"[{row.lift_ci[0]:+.1%}, {row.lift_ci[1]:+.1%}])"
        )

    def experiment(self, traffic: TrafficConfig) -> str:
        spec = self.spec
        with Store(self.db) as store:
            summary = simulate_traffic(
                store,
                spec,
                traffic,
                replace=True,
                progress=lambda d, t: self.progress("traffic", d, t),
            )
        self.result.traffic = summary
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

    def analysis(self) -> str:
        with Store(self.db, read_only=True) as store:
            self.result.analysis = analyze(store, self.spec)
        return decision_text(self.result.analysis)[0]

    def report(self) -> str:
        """The report, with the offline evaluation of the stage above (every metric and
        cutoff it scored) and the simulator's truth, read once for report and summary."""
        config, offline = self.config, self.result.offline
        with Store(self.db, read_only=True) as store:
            inputs = build_report_inputs(
                store,
                self.spec,
                self.spec_text,
                spec_name=config.spec_path.name,
                result=self.result.analysis,
                offline=section_from_offline(self.spec, [offline]) if offline else None,
                truth=True,
                seed=config.seed,
            )
        self.result.truth = inputs.truth
        self.result.report_paths = write_report(inputs, config.report)
        return f"{config.report} (+ .md, .json)"
