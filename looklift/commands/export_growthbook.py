"""``looklift export-growthbook``: experiments as a GrowthBook SDK payload for apps."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from looklift.console import out


def register(app: typer.Typer) -> None:
    app.command(
        "export-growthbook",
        help="Write experiments as a GrowthBook SDK payload (features with experiment rules: "
        "key, seed, hashVersion, coverage, weights, namespace or hash-range filters, "
        "condition; force rules for forced units), so that an app embedding an official "
        "GrowthBook SDK assigns every user as 'looklift assign' does. Each experiment is a "
        "feature named after its key whose value is the variant's name.",
    )(export_growthbook)


def export_growthbook(
    files: Annotated[list[Path], typer.Argument(help="Experiment YAML files.")],
    out_path: Annotated[Path, typer.Option("--out", help="JSON file to write.")] = Path(
        "features.json"
    ),
) -> None:
    from abtest.assignment.growthbook import growthbook_payload
    from abtest.spec import load_spec
    from looklift.errors import UsageProblem

    specs = [load_spec(f) for f in files]
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise UsageProblem(f"an experiment is given twice ({', '.join(keys)})")
    if not out_path.parent.exists():
        raise UsageProblem(f"folder does not exist: {out_path.parent}")
    if out_path.is_dir():
        raise UsageProblem(f"--out is a folder: {out_path}")
    text = json.dumps(growthbook_payload(specs), indent=2, ensure_ascii=False) + "\n"
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    out.print(f"wrote {len(specs)} experiment(s) as GrowthBook features to {out_path}")
