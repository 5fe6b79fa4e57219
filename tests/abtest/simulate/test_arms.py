"""The experiments of a run: dates, modules and faults from specs and options."""

from __future__ import annotations

import datetime as dt

import pytest

from abtest.simulate.arms import DEFAULT_K, arms_of, event_span, run_days
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from tests.abtest.simulate.traffic_builders import SPEC, joint_spec, spec


def test_dates_come_from_the_schedule_and_the_pre_period() -> None:
    (arm,) = arms_of([joint_spec("looks-a")], TrafficConfig())
    assert (arm.days, arm.pre_days) == (4, 2)  # 2026-03-02 to 03-06; cuped_pre_period_days
    assert arm.first_day == dt.date(2026, 2, 28)
    assert arm.end_day == arm.end.date() == dt.date(2026, 3, 6)
    assert [arm.running(arm.first_day), arm.running(dt.date(2026, 3, 2))] == [False, True]
    assert arm.day_index(arm.first_day) == -2
    (short,) = arms_of([joint_spec("looks-a")], TrafficConfig(days=1, pre_days=0))
    assert (short.days, short.pre_days, short.first_day) == (1, 0, dt.date(2026, 3, 2))


def test_run_days_cover_every_experiment_and_late_events_extend_the_span() -> None:
    a = joint_spec("looks-a")
    b = joint_spec("looks-b", 0.5, 1.0, start="2026-03-09", end="2026-03-11")
    arms = arms_of([a, b], TrafficConfig(pre_days=1))
    days = run_days(arms)
    assert days[0] == dt.date(2026, 3, 1) and days[-1] == dt.date(2026, 3, 10)
    assert dt.date(2026, 3, 7) not in days  # between a's end and b's pre-period
    assert len(days) == len(set(days)) == 5 + 3
    assert arms[0].overlaps(arms[1]) is False
    start, end = event_span(days, TrafficConfig())
    assert (start, end) == (dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 11))
    late = TrafficConfig(late_events=0.1, late_days=1.5)
    assert event_span(days, late)[1] == dt.datetime(2026, 3, 13)


def test_modules_and_faults_per_variant() -> None:
    text = SPEC.replace("params: {k: 5}}\n  - ", "params: {}}\n  - ")
    s = spec(text.replace("better, params: {k: 5}", "better, params: {k: 7}"))
    config = TrafficConfig(drop_exposures={"treatment": 0.2}, module_failures={"control": 0.1})
    (arm,) = arms_of([s], config)
    assert arm.encoders == ["base", "better"] and arm.ks == [DEFAULT_K, 7]
    assert (arm.drop, arm.failures) == ({1: 0.2}, {0: 0.1})
    assert arm.default == ("base", DEFAULT_K)
    (aa,) = arms_of([s], TrafficConfig(aa=True))
    assert aa.encoders == ["base", "base"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule": None}, "'toy-exp' has no schedule; add schedule: {start:, end:}"),
        ({"unit": "device_id"}, "the simulator hashes user_id; 'toy-exp' uses unit 'device_id'"),
    ],
)
def test_what_cannot_be_simulated_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(SimulationError) as raised:
        arms_of([spec(**changes)], TrafficConfig())
    assert str(raised.value) == message


def test_a_variant_without_an_encoder_is_refused() -> None:
    s = spec()
    s = s.model_copy(
        update={"variants": [s.variants[0], s.variants[1].model_copy(update={"encoder": None})]}
    )
    with pytest.raises(SimulationError, match="variant 'treatment' of 'toy-exp' serves no encoder"):
        arms_of([s], TrafficConfig())
