"""``looklift encode``: embed every catalog photo with one encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from looklift.console import OutputFormat, err, out, print_json, stage_progress, table

HELP = (
    "Embed every catalog photo with an encoder and save the vectors under "
    "<db>-artifacts/encoders/<name>/ (embeddings.parquet, plus the encoder's fitted state). "
    "Encoders: cnn-pca (the baseline: ImageNet EfficientNet-Lite0 features, PCA fitted on the "
    "catalog), siglip (any SigLIP checkpoint, --checkpoint), finetuned (a checkpoint made by "
    "'looklift finetune', --checkpoint; by default models/finetuned), and plugins; "
    "--list shows them. Unreadable photos are reported and skipped. "
    "Next: 'looklift neighbors --encoder <name>'."
)


def register(app: typer.Typer) -> None:
    app.command("encode", help=HELP)(encode)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as an int, a float or left as text."""
    from looklift.errors import UsageProblem

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageProblem(f"--option takes KEY=VALUE (got {text!r})")
    for kind in (int, float):
        try:
            return key.replace("-", "_"), kind(value)
        except ValueError:
            pass
    return key.replace("-", "_"), value


def parse_dim(text: str | None) -> int | str | None:
    """``--dim``: a positive number of dims, or ``auto`` (the encoder picks; cnn-pca's default)."""
    from looklift.errors import UsageProblem

    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        value = int(text)
    except ValueError:
        raise UsageProblem(f"--dim takes a number of dims or 'auto' (got {text!r})") from None
    if value < 1:
        raise UsageProblem(f"--dim must be at least 1 (got {value})")
    return value


# The options, one type each, so that the command's signature reads as a list.
Encoder = Annotated[
    str, typer.Option("--encoder", "-e", metavar="NAME", help="Encoder to use (see --list).")
]
Name = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Name of the result: its artifact folder and its neighbors.encoder value "
        "(default: the encoder's name).",
    ),
]
Db = Annotated[Path, typer.Option(help="The looklift database.")]
Checkpoint = Annotated[
    str | None,
    typer.Option(help="siglip: hub id or folder; finetuned: a 'looklift finetune' output."),
]
Dim = Annotated[
    str | None,
    typer.Option(
        metavar="N|auto",
        help="Output dimensions. cnn-pca: 'auto' (the default) is 128, or items - 1 on "
        "catalogs of 128 items or fewer (a PCA on n items has n - 1 components); "
        "siglip: its own size unless N.",
    ),
]
InputSize = Annotated[
    int | None,
    typer.Option(help="cnn-pca input size in pixels: 224 is the model's, 128 much faster."),
]
Reduce = Annotated[
    str | None, typer.Option(help="siglip, with --dim: 'pca' (default) or 'truncate'.")
]
BatchSize = Annotated[int | None, typer.Option(help="Images per batch.")]
Device = Annotated[str | None, typer.Option(help="'cpu' or 'cuda' (default: CUDA when available).")]
Option = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        metavar="KEY=VALUE",
        help="KEY=VALUE passed to a plugin encoder (repeatable).",
    ),
]
Cache = Annotated[bool, typer.Option(help="Reuse cached trunk features of unchanged photos.")]
ListEncoders = Annotated[
    bool, typer.Option("--list", help="List the encoders that can be used, and exit.")
]
Format = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def encode(
    encoder: Encoder = "cnn-pca",
    name: Name = None,
    db: Db = Path("looklift.duckdb"),
    checkpoint: Checkpoint = None,
    dim: Dim = None,
    input_size: InputSize = None,
    reduce: Reduce = None,
    batch_size: BatchSize = None,
    device: Device = None,
    option: Option = None,
    cache: Cache = True,
    list_encoders: ListEncoders = False,
    format: Format = OutputFormat.table,
) -> None:
    from encoders.artifacts import Artifacts
    from encoders.encode import encode_catalog
    from encoders.registry import available

    if list_encoders:
        names = available()
        if format is OutputFormat.json:
            print_json(list(names))
        else:
            out.print("\n".join(names))
        return
    options: dict[str, Any] = dict(parse_option(o) for o in option or [])
    given = {
        "checkpoint": checkpoint,
        "dim": parse_dim(dim),
        "input_size": input_size,
        "reduce": reduce,
        "batch_size": batch_size,
        "device": device,
    }
    options |= {k: v for k, v in given.items() if v is not None}
    if encoder == "finetuned" and "checkpoint" not in options:
        options["checkpoint"] = str(Artifacts.for_db(db).model_dir(name or "finetuned"))

    with stage_progress() as on_progress:
        result = encode_catalog(
            db, encoder, name, options=options, use_cache=cache, progress=on_progress
        )

    _print_result(result, options, format)


def _print_result(result: Any, options: dict[str, Any], format: OutputFormat) -> None:
    """Skipped photos and notes on stderr, then what was encoded (or its JSON)."""
    for bad in result.skipped[:10]:
        err.print(f"[yellow]skipped[/] item {bad.item_id}: {bad.path} ({bad.reason})")
    if result.n_skipped > 10:
        err.print(f"[yellow]skipped[/] {result.n_skipped - 10} more unreadable photos")
    if result.encoder == "cnn-pca" and options.get("dim", "auto") == "auto" and result.dim < 128:
        err.print(
            f"[yellow]note[/] cnn-pca: {result.dim} dims, not 128: a PCA fitted on "
            f"{result.n_encoded} photos has at most {result.n_encoded - 1} (items - 1)",
            highlight=False,
        )
    if format is OutputFormat.json:
        print_json(result)
        return
    out.print(
        table(
            f"Encoded {result.n_encoded:,} of {result.n_items:,} items with {result.encoder}",
            ["name", "encoder", "dim", "encoded", "skipped", "seconds"],
            [
                (
                    result.name,
                    result.encoder,
                    result.dim,
                    result.n_encoded,
                    result.n_skipped,
                    f"{result.seconds:.1f}",
                )
            ],
        )
    )
    out.print(f"embeddings  {result.embeddings_path}")
    if result.state_dir is not None:
        out.print(f"state       {result.state_dir}")
