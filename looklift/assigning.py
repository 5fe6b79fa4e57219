"""Assigning a file of users to an experiment's variants (``looklift assign``).

The users file is read as ``looklift ingest users`` reads it, every user is
assigned with the SDK-compatible hashing of :mod:`abtest.assignment`, and the
assignments are written as parquet, replaced atomically: nothing is written
when anything is wrong. With ``record_exposures`` each assigned user's exposure
is also written to the store, before the parquet takes its place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from looklift.errors import UsageProblem

if TYPE_CHECKING:
    import datetime as dt

    from abtest.spec import ExperimentSpec


@dataclass(frozen=True)
class AssignRun:
    """What :func:`assign_users_file` assigned and wrote."""

    spec: ExperimentSpec
    batch: Any
    """The assignments (:meth:`abtest.assignment.Assigner.assign_frame`'s batch)."""
    recorded: int | None
    """Exposures written to the store (``None``: not asked)."""


def assign_users_file(
    spec_file: Path,
    users: Path,
    out_path: Path,
    *,
    db: Path | None = None,
    record_exposures: bool = False,
    at: str | None = None,
    force: Sequence[str] = (),
) -> AssignRun:
    """Assign every user of ``users`` to a variant of the experiment in ``spec_file`` and
    write the assignments to ``out_path``.

    ``db`` lists the known encoders (the spec's must have neighbors there) and,
    with ``record_exposures``, receives an exposure per assigned user at ``at``
    (ISO 8601; default: the schedule's start). ``force`` holds ``UNIT=VARIANT``
    items that force a unit into a variant (QA).
    """
    from abtest.assignment import Assigner
    from abtest.spec import load_spec
    from looklift.store_facts import known_encoders_from_db

    if record_exposures and db is None:
        raise UsageProblem("--record-exposures needs --db")
    if not out_path.parent.exists():
        raise UsageProblem(f"folder does not exist: {out_path.parent}")
    if out_path.exists() and out_path.is_dir():
        raise UsageProblem(f"--out is a folder: {out_path}")
    spec = load_spec(spec_file, known_encoders=known_encoders_from_db(db) if db else None)
    assigner = Assigner(spec, forced=parse_forced(force))
    exposure_ts = _exposure_time(spec, spec_file, at) if record_exposures else None
    batch = assigner.assign_frame(_read_users(spec, users))
    frame = batch.to_frame(unit_column=spec.unit)
    recorded = _write(frame, batch, out_path, db if record_exposures else None, exposure_ts)
    return AssignRun(spec, batch, recorded)


@dataclass(frozen=True)
class SparkAssignRun:
    """What :func:`assign_users_on_spark` assigned and wrote."""

    spec: ExperimentSpec
    units: int
    counts: dict[str, int]
    """Units per variant (in the experiment only), in variant order."""
    reasons: dict[str, int]
    """Units per reason (assigned, coverage, targeting...), those with any."""


def assign_users_on_spark(
    spec_file: Path,
    users: Path,
    out_path: Path,
    *,
    db: Path | None = None,
    force: Sequence[str] = (),
    master: str = "local[*]",
    log: Path | None = None,
) -> SparkAssignRun:
    """:func:`assign_users_file` on Spark: ``users`` is parquet (a file or a folder, as a
    warehouse exports it), the assignments are written as a parquet folder at
    ``out_path``, replaced only once complete."""
    import shutil

    from abtest.assignment import REASONS
    from abtest.spec import load_spec
    from looklift.store_facts import known_encoders_from_db

    if not users.exists():
        raise UsageProblem(f"users file not found: {users}")
    if users.is_file() and users.suffix.lower() != ".parquet":
        raise UsageProblem(
            f"--engine spark reads users as parquet (a file or a folder), not {users.name}"
        )
    if not out_path.parent.exists():
        raise UsageProblem(f"folder does not exist: {out_path.parent}")
    spec = load_spec(spec_file, known_encoders=known_encoders_from_db(db) if db else None)
    forced = parse_forced(force)
    try:
        from abtest.analysis.spark import local_session
        from abtest.assignment.spark import assign_dataframe
    except ImportError:
        raise UsageProblem(
            "the spark engine needs its extra: pip install 'looklift[spark]'"
        ) from None
    session = local_session(master, log=log)
    frame = session.read.parquet(str(users))
    if spec.unit not in frame.columns:
        raise UsageProblem(
            f"{users}: no {spec.unit!r} column (the unit of {spec.key!r}); columns are "
            f"{', '.join(frame.columns)}"
        )
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        assign_dataframe(spec, frame, forced).write.mode("overwrite").parquet(str(tmp))
        written = session.read.parquet(str(tmp))
        by_reason = dict(written.groupBy("reason").count().collect())
        by_variant = dict(written.groupBy("variant").count().collect())
        if out_path.is_dir():
            shutil.rmtree(out_path)
        elif out_path.exists():
            out_path.unlink()
        os.replace(tmp, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SparkAssignRun(
        spec,
        int(sum(by_reason.values())),
        {v.name: int(by_variant.get(v.name, 0)) for v in spec.variants},
        {r: int(by_reason[r]) for r in REASONS if by_reason.get(r)},
    )


def parse_forced(items: Sequence[str]) -> dict[str, str]:
    """``UNIT=VARIANT`` items (``--force``) as a mapping."""
    forced: dict[str, str] = {}
    for item in items:
        unit, sep, variant = item.partition("=")
        if not sep or not unit or not variant:
            raise UsageProblem(f"--force takes UNIT=VARIANT, got {item!r}")
        forced[unit] = variant
    return forced


def _exposure_time(spec: ExperimentSpec, spec_file: Path, at: str | None) -> dt.datetime:
    """When the recorded exposures happened: ``at``, else the schedule's start."""
    from abtest.assignment import as_timestamp

    if at is not None:
        return as_timestamp(at)
    if spec.schedule is not None:
        return spec.schedule.start
    raise UsageProblem(f"{spec_file} has no schedule; pass --at for the exposure time")


def _read_users(spec: ExperimentSpec, users: Path) -> Any:
    """The users file as a frame, read as ``looklift ingest`` reads it."""
    from abtest.assignment import AssignmentError
    from abtest.schema import USERS
    from abtest.store import read_frame

    if not users.exists():
        raise AssignmentError(f"users file not found: {users}")
    # A folder, a FIFO or a device is refused by read_frame in one line (never read).
    # The reader of `looklift ingest`: the same formats, and the same attributes (types,
    # UTC timestamps) whether a users file is assigned or stored. The unit is text, as
    # written: "007" stays "007" (hashing reads the string).
    return read_frame(
        users,
        table="users",
        types=None if spec.unit in USERS.column_names else {spec.unit: "text"},
    )


def _write(
    frame: Any,
    batch: Any,
    out_path: Path,
    exposures_db: Path | None,
    exposure_ts: dt.datetime | None,
) -> int | None:
    """Write the assignments ``frame`` to ``out_path`` atomically (and the exposures of
    ``batch`` to ``exposures_db`` first, if given); the number of exposures recorded."""
    from abtest.assignment import record_exposures as record_batch
    from abtest.store import Store

    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    recorded = None
    try:
        frame.write_parquet(tmp)
        if exposures_db is not None:
            with Store(exposures_db, create=False) as store:
                recorded = record_batch(store, batch, exposure_ts).inserted
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return recorded
