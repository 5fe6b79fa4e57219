"""Specs, databases and queries shared by the traffic simulator's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import yaml

from abtest.spec import ExperimentSpec, parse_spec
from abtest.store import Store

SPEC = """
key: toy-exp
seed: toy
variants:
  - {name: control, weight: 0.5, encoder: base, params: {k: 5}}
  - {name: treatment, weight: 0.5, encoder: better, params: {k: 5}}
metrics:
  primary: [taps]
metric_definitions:
  taps: {kind: mean, numerator: tap}
schedule: {start: 2026-03-02, end: 2026-03-09}
"""


def spec(text: str = SPEC, **changes: object) -> ExperimentSpec:
    parsed = parse_spec(yaml.safe_load(text))
    return parsed.model_copy(update=changes) if changes else parsed


def table(db: Path, sql: str) -> pl.DataFrame:
    with Store(db, read_only=True) as store:
        return store.query(sql)


JOINT = """
key: {key}
seed: {key}-seed
namespace: {{name: looks, range: [{lo}, {hi}]}}
variants:
  - {{name: control, weight: 0.5, encoder: base, params: {{k: 5}}}}
  - {{name: treatment, weight: 0.5, encoder: better, params: {{k: {k}}}}}
metrics:
  primary: [ctr]
  secondary: [taps, purchases]
metric_definitions:
  ctr: {{kind: ratio, numerator: tap, denominator: impression}}
  taps: {{kind: mean, numerator: tap}}
  purchases: {{kind: mean, numerator: purchase}}
analysis: {{cuped_pre_period_days: 2}}
schedule: {{start: {start}, end: {end}}}
"""


def joint_spec(
    key: str,
    lo: float = 0.0,
    hi: float = 0.5,
    *,
    k: int = 5,
    start: str = "2026-03-02",
    end: str = "2026-03-06",
) -> ExperimentSpec:
    return spec(JOINT.format(key=key, lo=lo, hi=hi, k=k, start=start, end=end))


def copies(db: Path, tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        shutil.copy(db, tmp_path / name)
        out.append(tmp_path / name)
    return out


def analysed(db: Path, s: ExperimentSpec) -> str:
    from abtest.analysis import analyze

    with Store(db, read_only=True) as store:
        return analyze(store, s).to_json()


def users_events(
    db: Path, experiment: str, since: str = "2026-01-01", until: str = "2027-01-01"
) -> pl.DataFrame:
    """The events of an experiment's exposed users in [since, until), without their ids
    (which name the run)."""
    return table(
        db,
        "SELECT e.* EXCLUDE (event_id) FROM events e WHERE e.user_id IN "
        f"(SELECT user_id FROM exposures WHERE experiment = '{experiment}') "
        f"AND e.ts >= TIMESTAMP '{since}' AND e.ts < TIMESTAMP '{until}' ORDER BY ALL",
    )
