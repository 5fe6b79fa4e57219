"""A small, real pipeline for report tests: world, toy neighbors, logs, experiment, analysis.

Shared by the tests of the reports room and of ``looklift report`` (imported
as ``tests.reports.builders``). One item title holds a script tag, to check
that every rendering shows it as text.
"""

from __future__ import annotations

from pathlib import Path

from abtest.simulate.history import HistoryConfig, simulate_history
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.simulate.world import WorldSummary
from abtest.spec import load_spec
from abtest.store import Store
from reports.gallery import sample_items
from tests.conftest import served_copy

SPEC = """\
# A report test: names and text that need escaping are on purpose.
key: report-test
description: "Colour-aware neighbors vs category ones: a <b>bold</b> claim & more"
seed: report-test
variants:
  - name: control
    weight: 0.5
    encoder: base
    params: {k: 5}
    description: same category, random order
  - name: treatment
    weight: 0.5
    encoder: better
    params: {k: 5}
    description: same category and colour <i>first</i>
metrics:
  primary: [tap_through_rate]
  secondary: [purchase_conversion, purchases_per_user]
  guardrail: [impressions_per_user]
metric_definitions:
  tap_through_rate: {kind: ratio, numerator: tap, denominator: impression,
                     description: Taps per impression of the module}
  purchase_conversion: {kind: proportion, numerator: purchase}
  purchases_per_user: {kind: mean, numerator: purchase}
  impressions_per_user: {kind: mean, numerator: impression, direction: higher_is_better}
analysis: {alpha: 0.05, test: sequential}
schedule: {start: 2026-03-02, end: 2026-03-09}
"""

PWNED_TITLE = "<script>window.__pwned = 1</script> silk scarf"
"""The title given to the first item of the gallery: it must show as text, never run."""

ENCODERS = ("base", "better")


def build_reported_db(world: WorldSummary, folder: Path) -> tuple[Path, Path]:
    """A copy of ``world`` with neighbors, history, a simulated experiment and the
    script-tag title; returns the database and the spec file."""
    db = served_copy(world, folder / world.db.name, ("base", "better"))
    (folder / world.images_dir.name).symlink_to(world.images_dir)
    spec_file = folder / "report-test.yaml"
    spec_file.write_text(SPEC, encoding="utf-8")
    spec = load_spec(spec_file)
    with Store(db) as store:
        simulate_history(store, HistoryConfig(policy="base", days=7))
        simulate_traffic(store, spec, TrafficConfig())
        first = sample_items(store, ENCODERS, 1, seed=0)[0]
        store.con.execute("UPDATE items SET title = ? WHERE item_id = ?", [PWNED_TITLE, first])
    return db, spec_file
