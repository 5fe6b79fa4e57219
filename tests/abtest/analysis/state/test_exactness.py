"""Refresh then analyze equals a full analysis of the same tables, for any ingest sequence.

The rows of one simulated experiment (late and duplicated events, a user in both
arms, users with events before their exposure, a CUPED pre-period, every metric
kind) are ingested in sequences a real pipeline produces: day by day, out of
order, with replayed batches, with a user's first exposure arriving after their
later ones. After every ingest the state is refreshed and the analysis from it
is compared with the analysis of the raw tables, number by number (1e-9
relative), with the day-by-day series, the segments and an ``--as-of`` day.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.analysis.state import refresh
from abtest.store import Store
from tests.abtest.analysis.builders import START
from tests.abtest.analysis.state.conftest import assert_same_analysis, ingest, state_spec

SPEC = state_spec()


def check_exact(path: Path, as_of: dt.date | None = None) -> None:
    """Refresh, then compare the analysis from state with the raw tables' (and as of a day)."""
    with Store(path) as store:
        refresh(store, SPEC)
    with Store(path, read_only=True) as store:
        for day in (None, as_of):
            ours = analyze(store, SPEC, as_of=day)
            assert ours.source is not None and ours.source.startswith("from state"), ours.source
            raw = analyze(store, SPEC, as_of=day, use_state=False)
            assert raw.source is None
            assert_same_analysis(ours, raw)


def by_day(frame: pl.DataFrame) -> list[pl.DataFrame]:
    days = frame.get_column("ts").dt.date()
    return [frame.filter(days == d) for d in sorted(set(days.to_list()))]


def test_day_by_day_ingests_are_exact(source_rows, empty_store) -> None:
    events = by_day(source_rows["events"])
    exposures = {f[0, "ts"].date(): f for f in by_day(source_rows["exposures"])}
    for day_events in events:
        day = day_events[0, "ts"].date()
        ingest(empty_store, {"events": day_events, "exposures": exposures.pop(day, None)})
        if day >= START.date():  # the experiment has exposures from its first day on
            check_exact(
                empty_store, as_of=day - dt.timedelta(days=1) if day > START.date() else None
            )


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_are_exact(source_rows, empty_store, seed: int) -> None:
    """Rows shuffled into batches; some batches replayed; some users' first exposure in a
    later batch than their other exposures."""
    rng = random.Random(seed)
    exposures = source_rows["exposures"].sample(fraction=1.0, shuffle=True, seed=seed)
    events = source_rows["events"].sample(fraction=1.0, shuffle=True, seed=seed)
    # Hold back the first exposure of a few users to the last batch.
    firsts = exposures.sort("ts").unique("user_id", keep="first", maintain_order=True)
    held = firsts.sample(n=min(20, firsts.height), seed=seed)
    keys = ["experiment", "variant", "user_id", "ts"]
    rest = exposures.join(held, on=keys, how="anti")
    n = rng.randint(3, 5)
    batches = [{"exposures": rest[i::n], "events": events[i::n]} for i in range(n)]
    batches[-1]["exposures"] = pl.concat([batches[-1]["exposures"], held])
    done: list[dict[str, pl.DataFrame]] = []
    for batch in batches:
        ingest(empty_store, batch)
        done.append(batch)
        if rng.random() < 0.5:  # a replayed batch: nothing new
            ingest(empty_store, rng.choice(done))
        check_exact(empty_store, as_of=(START + dt.timedelta(days=rng.randint(0, 5))).date())
