"""End to end: a small simulated experiment sent through a real service, then analysed
from what the service logged: no sample ratio mismatch, and the interval of the tap
rate's lift covers the simulator's true lift."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import yaml

from abtest.analysis import analyze
from abtest.simulate.traffic import TrafficConfig, simulate_experiments
from abtest.spec import parse_spec
from abtest.store import Store
from tests.serving.conftest import SPEC
from tests.serving.test_crash import free_port, start


def test_a_served_experiment_is_analysed_end_to_end(live_db: Path, tmp_path: Path) -> None:
    data = {
        **{k: v for k, v in SPEC.items() if k not in ("forced", "targeting")},
        "targeting": {"is_new": {"$in": [True, False]}},  # typed attributes travel
        "schedule": {"start": "2026-03-02", "end": "2026-03-05"},
        "metrics": {"primary": ["tap_rate"]},
        "metric_definitions": {
            "tap_rate": {"kind": "ratio", "numerator": "tap", "denominator": "impression"}
        },
        "analysis": {"correction": "none"},
    }
    spec_path = tmp_path / "live.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    world = tmp_path / "world.duckdb"
    shutil.copy(live_db, world)  # the simulator reads the world; the service holds live_db
    port = free_port()
    server = start(live_db, spec_path, port)
    try:
        run = simulate_experiments(
            str(world), [spec], TrafficConfig(traffic=3, seed=3), via=f"http://127.0.0.1:{port}"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    (summary,) = run.experiments
    with Store(world, read_only=True) as store:
        assert store.count("events") == 0 and store.count("exposures") == 0  # sent, not written
    with Store(live_db, read_only=True) as store:
        result = analyze(store, spec, segments=(), daily=False)
        logged = store.count("events")
    assert logged > 0
    assert result.health.srm.p_value > 0.001
    assert sum(result.health.users.values()) == sum(summary.exposed.values())
    (comparison,) = [c for c in result.comparisons if c.metric == "tap_rate"]
    truth = summary.true_lift("tap_rate", "treatment")
    effect = comparison.comparison.relative
    assert effect.ci_low <= truth <= effect.ci_high, (effect, truth)
    assert effect.ci_high - effect.ci_low < 1.0  # an interval that could miss
