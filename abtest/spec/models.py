"""The experiment spec as frozen pydantic models: one class per section of the YAML.

Field-level rules live here (types, ranges, identifier patterns); rules that
relate several fields are in :mod:`abtest.spec.checks`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from abtest.spec.errors import shown

# --------------------------------------------------------------------------- names
# Names are matched in full (``fullmatch``, and ``\A``/``\Z`` rather than ``^``/``$``,
# which also match before a final newline): "treatment\n" is not a name.
IDENTIFIER_RE = re.compile(r"\A[a-z][a-z0-9_]{0,62}\Z")
"""Variant, metric and event-type names: they are used in SQL, so nothing else is allowed."""
KEY_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\Z")
"""Experiment keys and namespace names (GrowthBook keys such as ``my-test`` fit)."""
ENCODER_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\Z")
ATTRIBUTE_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
WEIGHT_TOLERANCE = 1e-6

# --------------------------------------------------------------------------- bounds
MAX_K = 100
"""Most items a variant's module may show (``params.k``). A "similar looks" module shows a
row or a carousel, tens of items at most; the simulator and serving read ``k`` neighbors
of every item, so an absurd ``k`` would only exhaust memory."""
EARLIEST = dt.datetime(2000, 1, 1)
LATEST = dt.datetime(2100, 1, 1)
"""Schedules lie in ``[EARLIEST, LATEST)`` (UTC): far from both ends of Python's calendar,
so that a CUPED pre-period or a time-zone conversion never overflows it (``0001-01-01``
or ``9999-12-31`` would)."""
MAX_SEQUENTIAL_TUNING = 1e10
"""``sequential_tuning`` is a sample size: from 1 unit to more units than people on Earth."""


def _identifier(value: str) -> str:
    if not IDENTIFIER_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a safe identifier: use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. tap_through_rate); names are used in SQL"
        )
    return value


def _key(value: str) -> str:
    if not KEY_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid key: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )
    return value


def _encoder_name(value: str) -> str:
    if not ENCODER_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid encoder name: use letters, digits, '_', '-' and '.'"
        )
    return value


def _attribute(value: str) -> str:
    if not ATTRIBUTE_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid attribute name: use letters, digits and '_', "
            "starting with a letter or '_'"
        )
    return value


def _text(value: Any) -> Any:
    """Seeds and unit ids may be written as numbers in YAML; they are text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _not_bool(value: Any) -> Any:
    """YAML reads ``true``, ``yes`` and ``on`` as booleans; pydantic would take them as 1."""
    if isinstance(value, bool):
        raise ValueError(f"a number is needed, got the boolean {str(value).lower()}")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Key = Annotated[str, AfterValidator(_key)]
EncoderName = Annotated[str, AfterValidator(_encoder_name)]
AttributeName = Annotated[str, AfterValidator(_attribute)]
Text = Annotated[str, BeforeValidator(_text)]
Number = BeforeValidator(_not_bool)  # in a number's Annotated: refuses booleans
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False), Number]
HashVersion = Annotated[Literal[1, 2], Number]
ParamValue = str | bool | int | float


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- parts
class Variant(_Model):
    """One arm: its name, its share of traffic and what it serves."""

    name: Identifier
    weight: Fraction | None = None
    """Share of the covered traffic; omit on every variant for equal weights."""
    encoder: EncoderName | None = None
    """The encoder whose ``neighbors`` the "similar looks" module serves."""
    params: dict[Identifier, ParamValue] = Field(default_factory=dict)
    """Serving parameters, such as ``k`` (how many neighbors to show, 1 to :data:`MAX_K`)."""
    description: str = ""

    @field_validator("params")
    @classmethod
    def _sane_params(cls, params: dict[str, ParamValue]) -> dict[str, ParamValue]:
        k = params.get("k")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
            raise ValueError(
                f"k must be a positive integer of at most {MAX_K} (how many items the module "
                f"shows), got {shown(k)}"
            )
        for name, value in params.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {shown(value)}")
        return params


class Namespace(_Model):
    """A named hash space; experiments with disjoint ranges never share a unit."""

    name: Key
    range: tuple[Fraction, Fraction]
    """``[start, end)`` of the namespace hash this experiment owns."""

    @field_validator("range")
    @classmethod
    def _ordered(cls, r: tuple[float, float]) -> tuple[float, float]:
        if not r[0] < r[1]:
            raise ValueError(f"start must be below end, got [{r[0]}, {r[1]})")
        return r

    def overlaps(self, other: Namespace) -> bool:
        return (
            self.name == other.name
            and self.range[0] < other.range[1]
            and (other.range[0] < self.range[1])
        )

    def as_tuple(self) -> tuple[str, float, float]:
        return (self.name, self.range[0], self.range[1])


class Holdout(_Model):
    """Units held out of the experiment (they see the default experience).

    Experiments that share the holdout ``seed`` hold out the same units; by
    default the seed is derived from the namespace, so one holdout covers every
    experiment of a namespace. Smaller fractions are subsets of larger ones.
    """

    fraction: Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False), Number]
    seed: Text | None = None
    hash_version: HashVersion = 2


class EventValue(_Model):
    """Per-unit value of one event type: how many events, or the sum of their ``value``.

    ``filter`` keeps only the events that satisfy a condition on the events' columns
    (see :mod:`abtest.spec.filters`), e.g. purchases of items the module recommended:
    ``{event: purchase, filter: {source_item_id: {$exists: true}}}``.
    """

    event: Identifier
    aggregate: Literal["count", "sum"] = "count"
    filter: dict[Any, Any] | None = None
    """A condition on the events' columns; checked by :func:`abtest.spec.checks.semantic_problems`
    (operators, operand types) and against the database's events table (columns)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # "numerator: tap" is short for {event: tap, aggregate: count}
        return {"event": data} if isinstance(data, str) else data

    @field_validator("filter")
    @classmethod
    def _empty_is_none(cls, value: dict[Any, Any] | None) -> dict[Any, Any] | None:
        """``filter: {}`` keeps every event: the same aggregate (and column) as no filter."""
        return value or None


# --------------------------------------------------------------------------- windows
DURATION_RE = re.compile(r"\A([0-9]{1,7})([mhdw])\Z")
"""A duration: a whole number and a unit, ``m`` (minutes), ``h``, ``d`` or ``w`` (weeks)."""
MAX_WINDOW_DAYS = 365
"""The longest delay or window: a conversion window is hours or days, never years."""
_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def duration_minutes(text: str) -> int:
    """Minutes of a duration written as :data:`DURATION_RE` (``24h`` -> 1440)."""
    m = DURATION_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{shown(text)} is not a duration")
    return int(m[1]) * _MINUTES[m[2]]


def _duration(value: Any) -> Any:
    """A duration as written (``24h``), checked: a whole number and a unit, at most a year."""
    if not isinstance(value, str) or not DURATION_RE.fullmatch(value):
        raise ValueError(
            "write a duration as a whole number and a unit, m (minutes), h, d or w (weeks), "
            f"e.g. 24h or 7d; got {shown(value)}"
        )
    if duration_minutes(value) > MAX_WINDOW_DAYS * _MINUTES["d"]:
        raise ValueError(f"must be at most {MAX_WINDOW_DAYS}d, got {value}")
    return value


def _positive_duration(value: Any) -> Any:
    """A window's length: longer than 0 (an empty window would count nothing)."""
    if duration_minutes(value) == 0:
        raise ValueError(f"must be longer than 0, got {value} (e.g. 24h)")
    return value


Duration = Annotated[str, BeforeValidator(_duration)]
PositiveDuration = Annotated[str, BeforeValidator(_duration), AfterValidator(_positive_duration)]


class Window(_Model):
    """Which events of a unit count, relative to the unit's first exposure (GrowthBook's
    conversion window): those with ``exposed_at + delay <= ts < exposed_at + delay + within``,
    and before the end of the analysis.

    A unit whose window has not ended by the end of the analysis counts with what it
    did so far ("in-progress conversions", GrowthBook's default); how many units that is
    per metric, :func:`abtest.analysis.staging.open_window_users` says. A window shorter
    than its delay (``{delay: 48h, within: 24h}``) is refused as a likely mistake
    (``within`` is the window's length after the delay, not a time after exposure).
    """

    delay: Duration = "0h"
    within: PositiveDuration

    @model_validator(mode="after")
    def _not_shorter_than_its_delay(self) -> Window:
        """Refuse ``within < delay``: most likely ``within`` was meant from the exposure."""
        if self.within_minutes < self.delay_minutes:
            raise ValueError(
                f"within ({self.within}) is shorter than delay ({self.delay}): within is the "
                f"window's length after the delay (events count from exposure + {self.delay} "
                f"to exposure + {self.delay} + within); a window shorter than its delay is "
                "refused as a likely mistake"
            )
        return self

    @property
    def delay_minutes(self) -> int:
        """Minutes from the first exposure to the window's opening."""
        return duration_minutes(self.delay)

    @property
    def within_minutes(self) -> int:
        """The window's length in minutes."""
        return duration_minutes(self.within)

    @property
    def end_minutes(self) -> int:
        """Minutes from the first exposure to the end of the window."""
        return self.delay_minutes + self.within_minutes

    @property
    def key(self) -> tuple[int, int]:
        """``(delay, within)`` in minutes: what identifies the window in column names."""
        return (self.delay_minutes, self.within_minutes)


# --------------------------------------------------------------------------- ranking
Gain = Annotated[float, Field(gt=0.0, le=1e6, allow_inf_nan=False), Number]


def _default_gains() -> dict[str, float]:
    """Taps gain 1, purchases 2: a purchase is the stronger judgment of a position."""
    return {"tap": 1.0, "purchase": 2.0}


class Ranking(_Model):
    """The event types that make the module's showings ranked lists with judgments.

    Each showing of the module (a ``view_id``) is one ranked list: its ``view`` events
    (impressions) with their positions. The events of ``gains`` that carry the same
    ``view_id`` judge it: the gain of a position is the largest gain of the events at it.
    ``tap`` is the event whose positions ``kind: tap_position`` averages.
    """

    view: Identifier = "impression"
    tap: Identifier = "tap"
    gains: dict[Identifier, Gain] = Field(default_factory=_default_gains, min_length=1)

    @model_validator(mode="after")
    def _view_is_not_a_judgment(self) -> Ranking:
        """The list's own events cannot judge it (every position would be relevant)."""
        if self.view in self.gains:
            raise ValueError(
                f"{self.view!r} is the list itself (view) and cannot also judge it (gains)"
            )
        return self


class Winsorization(_Model):
    """Cap each unit's metric value at a fixed ``upper`` value or at a percentile."""

    upper: Annotated[float, Field(allow_inf_nan=False), Number] | None = None
    percentile: Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False), Number] | None = None
    """A fraction: 0.99 caps at the 99th percentile of the pooled per-unit values."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Winsorization:
        if (self.upper is None) == (self.percentile is None):
            raise ValueError("give exactly one of upper (a fixed cap) or percentile (e.g. 0.99)")
        return self


Direction = Literal["higher_is_better", "lower_is_better"]
MetricKindName = Literal["mean", "proportion", "ratio", "quantile", "ndcg", "mrr", "tap_position"]
EVENT_KINDS = ("mean", "proportion", "ratio", "quantile")
"""Kinds computed from a numerator (and a denominator) of events."""
RANKING_KINDS = ("ndcg", "mrr", "tap_position")
"""Kinds that judge the module's showings as ranked lists (see :class:`Ranking`)."""
Cutoff = Annotated[int, Field(ge=1, le=MAX_K), Number]


class MetricDefinition(_Model):
    """A metric computed per unit from events.

    - ``mean``: the average over units of the numerator (e.g. purchases per user);
    - ``proportion``: the share of units with at least one numerator event;
    - ``ratio``: sum of numerators over sum of denominators (e.g. taps per
      impression), analysed with the delta method;
    - ``quantile``: the ``quantile`` (e.g. 0.9) of the units' numerators
      (``over: unit``, the default) or of the events' values (``over: event``,
      which needs ``aggregate: sum``); never CUPED-adjusted, never winsorized;
    - ``ndcg`` (with ``k``), ``mrr`` (``k`` optional) and ``tap_position``: the
      module's online ranking quality. Each showing of the module (a ``view_id``)
      is a ranked list judged by its taps (gain 1) and purchases (gain 2) (see
      :class:`Ranking`); per unit, the sum of the showings' nDCG@k (as
      :mod:`offline_eval.metrics` defines it; a showing without engagement scores
      0), or reciprocal rank of the first engaged position (0 beyond ``k``), over
      the number of showings: a ratio. ``tap_position`` is the mean position of
      taps (sum of positions over taps), lower is better by default.

    ``window`` counts only the events in a window after each unit's first exposure
    (:class:`Window`); windowed metrics are never CUPED-adjusted (their pre-period
    would need a window of its own). Ranking kinds take neither filters nor windows.
    """

    name: Identifier
    kind: MetricKindName
    numerator: EventValue | None = None
    """Required for the event kinds; not for the ranking kinds."""
    denominator: EventValue | None = None
    window: Window | None = None
    k: Cutoff | None = None
    """The cutoff of ``ndcg`` (required) and ``mrr`` (optional): only the top k positions."""
    ranking: Ranking | None = None
    """The event types of the ranking kinds (default: impression, tap 1, purchase 2)."""
    quantile: Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False), Number] | None = None
    """Of ``kind: quantile``: which quantile, strictly between 0 and 1 (0.5 is the median)."""
    over: Literal["unit", "event"] | None = None
    """Of ``kind: quantile``: the units' values (default) or the individual events' values."""
    winsorize: Winsorization | None = None
    direction: Direction | None = None
    """Which way is good; required for guardrails (a move the other way is a failure).
    ``tap_position`` defaults to ``lower_is_better`` (the top of the list is position 1)."""
    cuped: bool = True
    """Adjust with each unit's pre-period value when ``analysis.cuped_pre_period_days`` is
    set (the default); ``false`` for a metric whose past says little about it, which also
    spares the analysis its pre-period columns. Quantiles and windowed metrics are never
    adjusted (see :attr:`cuped_applies`)."""
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_direction(cls, data: Any) -> Any:
        """``tap_position`` is lower-is-better unless the spec says otherwise."""
        if (
            isinstance(data, Mapping)
            and data.get("kind") == "tap_position"
            and data.get("direction") is None
        ):
            return {**data, "direction": "lower_is_better"}
        return data

    @model_validator(mode="after")
    def _shape(self) -> MetricDefinition:
        """The fields each kind needs and refuses (:meth:`_event_shape`, :meth:`_ranking_shape`)."""
        if self.kind in EVENT_KINDS:
            self._event_shape()
        else:
            self._ranking_shape()
        if self.kind != "quantile" and (self.quantile is not None or self.over is not None):
            raise ValueError(f"quantile and over only apply to kind: quantile, not {self.kind}")
        return self

    def _event_shape(self) -> None:
        """The numerator, denominator and options of the event kinds (mean... quantile)."""
        if self.numerator is None:
            raise ValueError(
                f"a {self.kind} metric needs a numerator (e.g. numerator: {{event: purchase}})"
            )
        if self.k is not None or self.ranking is not None:
            raise ValueError(
                f"k and ranking only apply to {', '.join(RANKING_KINDS)}, not {self.kind}"
            )
        if self.kind == "ratio" and self.denominator is None:
            raise ValueError("a ratio metric needs a denominator (e.g. {event: impression})")
        if self.kind != "ratio" and self.denominator is not None:
            raise ValueError(f"only ratio metrics have a denominator, this one is a {self.kind}")
        if self.kind == "proportion" and self.numerator.aggregate != "count":
            raise ValueError(
                "a proportion counts units with at least one event: use aggregate: count"
            )
        if self.kind == "proportion" and self.winsorize is not None:
            raise ValueError("a proportion is 0 or 1 per unit; it cannot be winsorized")
        if self.kind == "quantile":
            self._quantile_shape()

    def _quantile_shape(self) -> None:
        """A quantile needs its level, takes no cap, and reads values over events."""
        if self.quantile is None:
            raise ValueError("a quantile metric needs quantile, between 0 and 1 (e.g. 0.9)")
        if self.winsorize is not None:
            raise ValueError("a quantile is not moved by extreme values; it cannot be winsorized")
        assert self.numerator is not None
        if self.over == "event" and self.numerator.aggregate != "sum":
            raise ValueError("a quantile over events reads each event's value: use aggregate: sum")

    def _ranking_shape(self) -> None:
        """``ndcg``, ``mrr`` and ``tap_position``: no events of their own, no filter, no window."""
        if self.numerator is not None or self.denominator is not None:
            raise ValueError(
                f"a {self.kind} metric reads the module's showings (see ranking), "
                "not a numerator or a denominator"
            )
        if self.window is not None:
            raise ValueError(f"a {self.kind} metric cannot have a window")
        if self.kind == "ndcg" and self.k is None:
            raise ValueError("an ndcg metric needs k, the cutoff (e.g. k: 10 for nDCG@10)")
        if self.kind == "tap_position" and self.k is not None:
            raise ValueError("tap_position averages every tap's position; it takes no k")
        if self.winsorize is not None:
            raise ValueError(f"a {self.kind} metric cannot be winsorized")

    @property
    def ranking_events(self) -> Ranking:
        """The ranking kinds' event types (the defaults when ``ranking`` is not given)."""
        return self.ranking if self.ranking is not None else Ranking()

    @property
    def quantile_over(self) -> Literal["unit", "event"]:
        """Of a quantile metric: over the units' values (default) or the events' values."""
        return self.over or "unit"

    @property
    def cuped_applies(self) -> bool:
        """Whether the metric is CUPED-adjusted when the analysis has a pre-period.

        Not with ``cuped: false``, not for quantiles (the engine adjusts means and
        ratios), and not with a ``window`` (GrowthBook gives the pre-period the same
        lookback; here a windowed metric is simply not adjusted).
        """
        return self.cuped and self.kind != "quantile" and self.window is None

    @property
    def event_types(self) -> tuple[str, ...]:
        events = []
        if self.numerator is not None:
            events.append(self.numerator.event)
        if self.denominator is not None:
            events.append(self.denominator.event)
        if self.kind == "tap_position":
            events.append(self.ranking_events.tap)
        elif self.kind in RANKING_KINDS:
            events += [self.ranking_events.view, *self.ranking_events.gains]
        return tuple(dict.fromkeys(events))

    @property
    def higher_is_better(self) -> bool:
        return self.direction != "lower_is_better"


class MetricGroups(_Model):
    """Which metrics decide the experiment: names of ``metric_definitions``."""

    primary: list[Identifier] = Field(min_length=1)
    secondary: list[Identifier] = Field(default_factory=list)
    guardrail: list[Identifier] = Field(default_factory=list)

    def all(self) -> list[tuple[str, str]]:
        """``(group, metric name)`` in order: primary, secondary, guardrail."""
        return (
            [("primary", m) for m in self.primary]
            + [("secondary", m) for m in self.secondary]
            + [("guardrail", m) for m in self.guardrail]
        )


class Prior(_Model):
    """A proper Gaussian prior on the relative lift (the Bayesian engine's)."""

    mean: Annotated[float, Field(allow_inf_nan=False), Number] = 0.0
    variance: Annotated[float, Field(gt=0.0, allow_inf_nan=False), Number]


class AnalysisSettings(_Model):
    """How results are computed.

    ``engine: bayesian`` reads each lift as a posterior (GrowthBook's Bayesian
    engine): a treatment wins when its chance to beat the control reaches
    ``chance_to_win`` and the risk of choosing it (expected relative loss) is below
    ``risk_threshold``. ``prior`` is a Gaussian prior on the relative lift (absent:
    flat). The Bayesian engine takes no ``correction`` (it is ignored: chance to win
    is not a p-value) and cannot be ``sequential``.
    """

    alpha: Annotated[float, Field(gt=0.0, le=0.5, allow_inf_nan=False), Number] = 0.05
    test: Literal["fixed_horizon", "sequential"] = "fixed_horizon"
    sequential_tuning: Annotated[
        float, Field(ge=1.0, le=MAX_SEQUENTIAL_TUNING, allow_inf_nan=False), Number
    ] = 5000.0
    """Tuning parameter of the sequential (mixture SPRT) test, as in GrowthBook:
    the sample size at which its confidence intervals are tightest."""
    cuped_pre_period_days: Annotated[int, Field(ge=0, le=365), Number] = 0
    """Days before the start whose data adjusts for pre-experiment behaviour (0: no CUPED)."""
    correction: Literal["holm", "bh", "none"] = "holm"
    """Multiple-testing correction across metrics and variants (frequentist engine only)."""
    engine: Literal["frequentist", "bayesian"] = "frequentist"
    prior: Prior | None = None
    """Bayesian engine: a Gaussian prior on the relative lift; absent, a flat prior."""
    chance_to_win: Annotated[float, Field(gt=0.5, lt=1.0, allow_inf_nan=False), Number] = 0.95
    """Bayesian engine: the chance to beat the control that makes a treatment the winner."""
    risk_threshold: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False), Number] = 0.0025
    """Bayesian engine: the largest acceptable risk (expected relative loss) of a decision."""

    @model_validator(mode="after")
    def _tuning_needs_sequential(self) -> AnalysisSettings:
        if "sequential_tuning" in self.model_fields_set and self.test != "sequential":
            raise ValueError("sequential_tuning only applies with test: sequential")
        if self.engine == "bayesian" and self.test == "sequential":
            raise ValueError(
                "engine: bayesian cannot be combined with test: sequential (the Bayesian "
                "read-out may be looked at any day as it is); use test: fixed_horizon"
            )
        bayesian_only = {"prior", "chance_to_win", "risk_threshold"} & self.model_fields_set
        if bayesian_only and self.engine != "bayesian":
            raise ValueError(f"{', '.join(sorted(bayesian_only))} only apply with engine: bayesian")
        return self

    @property
    def bayesian(self) -> bool:
        """Whether chance to win and risk decide (``engine: bayesian``)."""
        return self.engine == "bayesian"

    @property
    def sequential(self) -> bool:
        return self.test == "sequential"


def _not_a_number(value: Any) -> Any:
    """A number is not a date: pydantic would read ``20260302`` as seconds since 1970."""
    if isinstance(value, int | float):
        raise ValueError(
            f"write a date as YYYY-MM-DD or a time as YYYY-MM-DDTHH:MM:SSZ, got {shown(value)}"
        )
    return value


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC without a zone, within ``[EARLIEST, LATEST)``."""
    utc = value
    if value.tzinfo is not None:
        try:
            utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            utc = dt.datetime.min if value.year < EARLIEST.year else dt.datetime.max
    if not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC), "
            f"got {value.isoformat()}"
        )
    return utc


When = Annotated[dt.datetime, BeforeValidator(_not_a_number), AfterValidator(_naive_utc)]


class Schedule(_Model):
    """When the experiment runs: ``[start, end)``; dates mean midnight UTC.

    Both lie from 2000-01-01 to before 2100-01-01 (:data:`EARLIEST`, :data:`LATEST`).
    """

    start: When
    end: When

    @model_validator(mode="after")
    def _end_after_start(self) -> Schedule:
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            )
        return self

    @property
    def days(self) -> float:
        return (self.end - self.start) / dt.timedelta(days=1)


# --------------------------------------------------------------------------- the spec
class ExperimentSpec(_Model):
    """One experiment, as written in its YAML file."""

    key: Key
    description: str = ""
    unit: AttributeName = "user_id"
    """The attribute that is hashed: every unit with the same value gets the same variant."""
    seed: Text | None = None
    """Hash seed; defaults to the key. Changing it reshuffles every unit."""
    hash_version: HashVersion = 2
    coverage: Fraction = 1.0
    """Share of eligible units in the experiment; lowering it only drops units."""
    namespace: Namespace | None = None
    holdout: Holdout | None = None
    variants: list[Variant] = Field(min_length=2)
    targeting: dict[str, Any] | None = None
    """A GrowthBook condition on unit attributes; units that fail it are not in the experiment."""
    saved_groups: dict[Key, list[Any]] = Field(default_factory=dict)
    """Named lists of values for ``$inGroup`` / ``$notInGroup`` in ``targeting``."""
    forced: dict[Text, Identifier] = Field(default_factory=dict)
    """QA overrides: unit id -> variant name. Forced units are not exposures for analysis."""
    metrics: MetricGroups | None = None
    metric_definitions: dict[Identifier, MetricDefinition] = Field(default_factory=dict)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    schedule: Schedule | None = None

    _source: str | None = PrivateAttr(default=None)

    @field_validator("forced", mode="before")
    @classmethod
    def _forced_keys_are_text(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {_text(k): v for k, v in value.items()}
        return value

    @field_validator("metric_definitions", mode="before")
    @classmethod
    def _names_from_keys(cls, value: Any) -> Any:
        # The mapping key is the metric's name; writing it again is allowed if equal.
        if isinstance(value, Mapping):
            return {
                k: ({"name": k, **v} if isinstance(v, Mapping) else v) for k, v in value.items()
            }
        return value

    # -- derived ---------------------------------------------------------------------
    @property
    def source(self) -> str | None:
        """The file this spec was loaded from, if any."""
        return self._source

    @property
    def hash_seed(self) -> str:
        return self.seed if self.seed is not None else self.key

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def weights(self) -> tuple[float, ...]:
        """Each variant's weight (equal weights when none is given)."""
        if all(v.weight is None for v in self.variants):
            return tuple(1 / len(self.variants) for _ in self.variants)
        return tuple(float(v.weight or 0.0) for v in self.variants)

    @property
    def encoders(self) -> tuple[str, ...]:
        """Distinct encoders the variants serve, in variant order."""
        return tuple(dict.fromkeys(v.encoder for v in self.variants if v.encoder))

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def metric(self, name: str) -> MetricDefinition:
        return self.metric_definitions[name]

    @property
    def event_types(self) -> tuple[str, ...]:
        """Event types the metrics of this spec read."""
        out: dict[str, None] = {}
        for group_metric in self.metrics.all() if self.metrics else []:
            m = self.metric_definitions.get(group_metric[1])
            if m is not None:
                out.update(dict.fromkeys(m.event_types))
        return tuple(out)

    def summary(self) -> dict[str, Any]:
        """A flat description for tables."""
        return {
            "key": self.key,
            "unit": self.unit,
            "hash": f"v{self.hash_version}:{self.hash_seed}",
            "coverage": self.coverage,
            "namespace": (
                f"{self.namespace.name}[{self.namespace.range[0]:g},{self.namespace.range[1]:g})"
                if self.namespace
                else ""
            ),
            "variants": ", ".join(
                f"{v.name}={w:g}" + (f"({v.encoder})" if v.encoder else "")
                for v, w in zip(self.variants, self.weights, strict=True)
            ),
            "metrics": len(self.metrics.all()) if self.metrics else 0,
            "schedule": (
                f"{self.schedule.start:%Y-%m-%d}..{self.schedule.end:%Y-%m-%d}"
                if self.schedule
                else ""
            ),
        }
