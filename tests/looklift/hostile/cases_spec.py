"""Hostile experiment specs against every verb that reads one.

Each input is the demo's spec (``examples/similar-looks.yaml``) with one thing
made hostile, or a YAML file that is hostile as a whole. They run against
validate, analyze, simulate, report, power and assign: each verb loads the spec
before it opens the database or writes anything, so each must end the same way,
with exit 2 and one line naming the file, the field and the problem.

The first group did not hold before the spec loader's limits (issue 12, items 4,
5 and 7): an alias bomb exhausted memory, an impossible date, a 5,000-digit
integer and 5,000 levels of nesting ended in tracebacks, ``k`` of 10^29 passed
validation and crashed the simulator, and names ending in a newline were
accepted. The last group held already (SQL in every name, unknown fields,
duplicate keys, wrong types) and is kept so that it keeps holding.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.looklift.hostile.corpus import EXAMPLE_SPEC, Case, FileContent

EVIL = "evil.yaml"
USERS_CSV = "user_id,platform,country,is_new\nu1,ios,JP,true\nu2,web,US,false\n"

VERBS: dict[str, tuple[str, ...]] = {
    "validate": ("validate", EVIL),
    "analyze": ("analyze", EVIL, "--db", "{db}"),
    # --replace: the template database has simulated this experiment already, so without
    # it the simulator's own refusal could hide whether the spec was checked first
    "simulate": ("simulate", EVIL, "--db", "{db}", "--days", "1", "--users", "50", "--replace"),
    "report": ("report", EVIL, "--db", "{db}", "--out", "r.html"),
    "power": ("power", EVIL, "--db", "{db}"),
    "assign": ("assign", EVIL, "--users", "users.csv", "--out", "a.parquet"),
}
"""How each verb that reads a spec is called on the hostile file (``evil.yaml``)."""


def spec_with(old: str, new: str) -> str:
    """The demo's spec with the first ``old`` replaced by ``new`` (which must be there)."""
    text = EXAMPLE_SPEC.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
"""The classic "billion laughs": 342 bytes, 10^9 nodes once its aliases are expanded."""


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _oversized(path: Path) -> None:
    path.write_text("key: big\ndescription: " + "x" * (5 * 1024 * 1024) + "\n", encoding="utf-8")


def _every_verb(name: str, content: FileContent, says: str) -> list[Case]:
    """One case per verb that reads a spec, each with ``content`` as the spec."""
    files: dict[str, FileContent] = {EVIL: content, "users.csv": USERS_CSV}
    return [
        Case(f"spec-{name}-{verb}", args, says=says, files=files) for verb, args in VERBS.items()
    ]


def _validate(name: str, content: FileContent, says: str) -> Case:
    return Case(f"spec-{name}-validate", VERBS["validate"], says=says, files={EVIL: content})


# --------------------------------------------------------------------------- did not hold
CASES: list[Case] = [
    *_every_verb("alias-bomb", BOMB, "e[0]: aliases expand to more than 10,000 nodes"),
    *_every_verb(
        "impossible-date",
        spec_with("end: 2026-03-16", "end: 2026-04-31"),
        "schedule.end: '2026-04-31' is not a valid date or time: day is out of range for month",
    ),
    *_every_verb(
        "5000-digit-integer",
        spec_with("hash_version: 2", "hash_version: " + "9" * 5000),
        "hash_version: a 5,000-digit integer is too long",
    ),
    *_every_verb(
        "5000-levels",
        spec_with("targeting:\n", "targeting:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n"),
        "nested deeper than 50 levels",
    ),
    *_every_verb(
        "k-1e29",
        spec_with("      k: 10 ", "      k: 100000000000000000000000000000 "),
        "variants[0].params: k must be a positive integer of at most 100",
    ),
    *_every_verb(
        "key-ending-in-newline",
        spec_with("key: similar-looks", 'key: "similar-looks\\n"'),
        "key: 'similar-looks\\n' is not a valid key",
    ),
    *_every_verb(
        "variant-ending-in-newline",
        spec_with("  - name: treatment", '  - name: "treatment\\n"'),
        "variants[1].name: 'treatment\\n' is not a safe identifier",
    ),
    _validate("recursive-alias", "key: &k [*k]\n", "refers to a node that contains it"),
    _validate(
        "rich-markup-in-a-field",
        spec_with("coverage: 1.0", 'coverage: 1.0\n"[/]": 1'),
        "[/]: unknown field",
    ),
    _validate(
        "event-type-ending-in-newline",
        spec_with(
            "numerator: {event: tap, aggregate: count}",
            'numerator: {event: "tap\\n", aggregate: count}',
        ),
        "'tap\\n' is not a safe identifier",
    ),
    _validate(
        "nul-byte", spec_with("unit: user_id", "unit: user_id\x00"), "'\\x00' is not allowed"
    ),
    _validate(
        "boolean-weights",
        spec_with("weight: 0.5", "weight: yes").replace("weight: 0.5", "weight: yes"),
        "variants[0].weight: a number is needed, got the boolean true",
    ),
    _validate(
        "date-as-a-number",
        spec_with("start: 2026-03-02", "start: 20260302"),
        "schedule.start: write a date as YYYY-MM-DD",
    ),
    _validate(
        "date-past-the-calendar-in-utc",
        spec_with("end: 2026-03-16", "end: 9999-12-31T23:00:00-05:00"),
        "schedule.end: must be from 2000-01-01 to before 2100-01-01",
    ),
    _validate(
        "tiny-sequential-tuning",
        spec_with("test: fixed_horizon", "test: sequential\n  sequential_tuning: 1.0e-300"),
        "analysis.sequential_tuning: Input should be greater than or equal to 1",
    ),
    _validate("oversized-file", _oversized, "larger than 4 MiB"),
    _validate(
        "tagged-non-integer",
        spec_with("hash_version: 2", "hash_version: !!int two"),
        "hash_version: 'two' is not a valid integer",
    ),
]

# --------------------------------------------------------------------------- new metric fields
# (issue "metrics real experiments need"): filters on events, windows after the exposure,
# ranking and quantile metrics. Each mistake is one line naming the field, before any work.
_PURCHASE = "numerator: {event: purchase}\n"
_PER_USER = (
    "  purchases_per_user:\n    kind: mean\n    numerator: {event: purchase, aggregate: count}\n"
)
CASES += [
    *_every_verb(
        "filter-unknown-operator",
        spec_with(_PURCHASE, "numerator: {event: purchase, filter: {position: {$lte2: 3}}}\n"),
        "purchase_conversion.numerator.filter.position.$lte2: unknown operator '$lte2'",
    ),
    _validate(
        "filter-unsupported-operator",
        spec_with(_PURCHASE, "numerator: {event: purchase, filter: {view_id: {$regex: x}}}\n"),
        "filter.view_id.$regex: operator $regex is not supported in metric filters",
    ),
    _validate(
        "filter-sql-in-a-value-and-a-column",
        spec_with(
            _PURCHASE,
            'numerator: {event: purchase, filter: {"x; DROP TABLE events": "\'; --"}}\n',
        ),
        "is not a column name",
    ),
    _validate(
        "window-shorter-than-its-delay",
        spec_with(_PURCHASE, _PURCHASE + "    window: {delay: 2d, within: 1d}\n"),
        "purchase_conversion.window: within (1d) is shorter than delay (2d)",
    ),
    _validate(
        "window-bad-duration",
        spec_with(_PURCHASE, _PURCHASE + "    window: {within: 24 hours}\n"),
        "purchase_conversion.window.within: write a duration",
    ),
    _validate(
        "quantile-outside-0-1",
        spec_with(_PER_USER, _PER_USER.replace("kind: mean", "kind: quantile\n    quantile: 1.5")),
        "metric_definitions.purchases_per_user.quantile: Input should be less than 1",
    ),
    _validate(
        "ndcg-k-below-1",
        spec_with(_PER_USER, "  purchases_per_user:\n    kind: ndcg\n    k: 0\n"),
        "metric_definitions.purchases_per_user.k: Input should be greater than or equal to 1",
    ),
    *(
        Case(
            f"spec-filter-on-a-missing-column-{verb}",
            args,
            says="purchase_conversion.numerator.filter.brand: the events table of",
            files={
                EVIL: spec_with(_PURCHASE, "numerator: {event: purchase, filter: {brand: acme}}\n")
            },
        )
        for verb, args in (
            ("validate", (*VERBS["validate"], "--db", "{db}")),
            ("analyze", VERBS["analyze"]),
        )
    ),
]

# --------------------------------------------------------------------------- held already
_SQL = "'; DROP TABLE events; --"
CASES += [
    *(
        Case(f"spec-sql-in-the-{what}-{verb}", VERBS[verb], says=says, files={EVIL: content})
        for what, content, says in [
            ("key", spec_with("key: similar-looks", f'key: "x{_SQL}"'), "is not a valid key"),
            (
                "variant",
                spec_with("  - name: treatment", f'  - name: "treatment{_SQL}"'),
                "variants[1].name",
            ),
            (
                "metric",
                spec_with("  tap_through_rate:\n", f'  "tap_through_rate{_SQL}":\n'),
                "is not a safe identifier",
            ),
            (
                "event-type",
                spec_with(
                    "numerator: {event: tap, aggregate: count}",
                    f'numerator: {{event: "tap{_SQL}"}}',
                ),
                "numerator.event",
            ),
            (
                "unit",
                spec_with("unit: user_id", f'unit: "user_id{_SQL}"'),
                "is not a valid attribute name",
            ),
            (
                "encoder",
                spec_with("encoder: finetuned", f'encoder: "finetuned{_SQL}"'),
                "is not a valid encoder name",
            ),
        ]
        for verb in ("validate", "analyze")
    ),
    _validate(
        "terminal-escape-in-the-key",
        spec_with("key: similar-looks", 'key: "similar\\e[2J\\u2028looks"'),
        "key: 'similar\\x1b[2J\\u2028looks' is not a valid key",
    ),
    _validate(
        "unknown-field",
        spec_with("coverage: 1.0", "covrage: 1.0"),
        "covrage: unknown field",
    ),
    _validate(
        "duplicate-key",
        spec_with("hash_version: 2", "hash_version: 2\nseed: again"),
        "duplicate key 'seed'",
    ),
    _validate("wrong-type-number", spec_with("coverage: 1.0", "coverage: lots"), "coverage: Input"),
    _validate(
        "wrong-type-variants",
        "key: x\nvariants: 5\n",
        "variants: Input should be a valid list",
    ),
    _validate("not-a-mapping", "- just\n- a list\n", "a spec must be a YAML mapping"),
    _validate("a-fifo", _fifo, "not a file"),
    _validate("latin-1", "key: caf\xe9\n".encode("latin-1"), "cannot read"),
    Case("spec-missing-file-analyze", ("analyze", "nope.yaml", "--db", "{db}"), says="not found"),
]
