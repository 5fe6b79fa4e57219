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
    """Per-unit value of one event type: how many events, or the sum of their ``value``."""

    event: Identifier
    aggregate: Literal["count", "sum"] = "count"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # "numerator: tap" is short for {event: tap, aggregate: count}
        return {"event": data} if isinstance(data, str) else data


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


class MetricDefinition(_Model):
    """A metric computed per unit from events.

    - ``mean``: the average over units of the numerator (e.g. purchases per user);
    - ``proportion``: the share of units with at least one numerator event;
    - ``ratio``: sum of numerators over sum of denominators (e.g. taps per
      impression), analysed with the delta method.
    """

    name: Identifier
    kind: Literal["mean", "proportion", "ratio"]
    numerator: EventValue
    denominator: EventValue | None = None
    winsorize: Winsorization | None = None
    direction: Direction | None = None
    """Which way is good; required for guardrails (a move the other way is a failure)."""
    cuped: bool = True
    """Adjust with each unit's pre-period value when ``analysis.cuped_pre_period_days`` is
    set (the default); ``false`` for a metric whose past says little about it, which also
    spares the analysis its pre-period columns."""
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> MetricDefinition:
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
        return self

    @property
    def event_types(self) -> tuple[str, ...]:
        events = [self.numerator.event]
        if self.denominator is not None:
            events.append(self.denominator.event)
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


class AnalysisSettings(_Model):
    """How results are computed."""

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
    """Multiple-testing correction across metrics and variants."""

    @model_validator(mode="after")
    def _tuning_needs_sequential(self) -> AnalysisSettings:
        if "sequential_tuning" in self.model_fields_set and self.test != "sequential":
            raise ValueError("sequential_tuning only applies with test: sequential")
        return self

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
