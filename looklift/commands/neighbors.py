"""``looklift neighbors``: each item's most similar items, per encoder, from FAISS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, progress, table

HELP = (
    "Build a FAISS index over an encoder's embeddings and write its recommendations to the "
    "neighbors table: for every item, the k most similar other items (cosine similarity; the "
    "item itself excluded; ties broken by item id, so the result is deterministic). The exact "
    "index is the default; hnsw and ivf are approximate, and ivfpq is approximate and "
    "compressed (pq-m bytes per vector, candidates re-ranked exactly): their recall@k against "
    "exact search is measured and shown. Results are written batch by batch, so a catalog of "
    "millions of items never holds all its rows in memory. Run 'looklift encode' first."
)


def register(app: typer.Typer) -> None:
    app.command("neighbors", help=HELP)(neighbors)


def neighbors(
    encoder: Annotated[
        list[str] | None,
        typer.Option(
            "--encoder",
            "-e",
            metavar="NAME",
            help="Encoder name(s) to write (repeatable; default: every encoded one).",
        ),
    ] = None,
    db: Annotated[Path, typer.Option(help="The looklift database.")] = Path("looklift.duckdb"),
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbors per item.")] = 20,
    index: Annotated[str, typer.Option(help="exact, hnsw, ivf or ivfpq.")] = "exact",
    hnsw_m: Annotated[int, typer.Option(help="hnsw: links per node.")] = 32,
    ef_search: Annotated[int, typer.Option(help="hnsw: search breadth.")] = 64,
    nlist: Annotated[
        int | None, typer.Option(help="ivf: number of lists (default about 4 sqrt(n)).")
    ] = None,
    nprobe: Annotated[int, typer.Option(help="ivf, ivfpq: lists searched per query.")] = 8,
    pq_m: Annotated[
        int, typer.Option(help="ivfpq: bytes of code per vector (must divide the dimension).")
    ] = 16,
    rerank: Annotated[
        int,
        typer.Option(
            help="ivfpq: fetch this many times the candidates and re-rank them by exact "
            "similarity (0: keep the compressed scores)."
        ),
    ] = 8,
    batch_size: Annotated[
        int, typer.Option(help="Items searched and written to the database per batch.")
    ] = 32_768,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.store import require_database
    from encoders.artifacts import Artifacts
    from encoders.errors import EncoderError
    from encoders.index import IndexSpec
    from encoders.neighbors import write_neighbors

    spec = IndexSpec(
        kind=index,
        hnsw_m=hnsw_m,
        ef_search=ef_search,
        nlist=nlist,
        nprobe=nprobe,
        pq_m=pq_m,
        rerank=rerank,
    ).validate()
    if batch_size < 1:
        raise EncoderError(f"--batch-size must be at least 1 (got {batch_size})")
    require_database(db)  # before listing its artifacts: a wrong --db says so
    names = list(encoder or Artifacts.for_db(db).encoded())
    if not names:
        raise EncoderError(f"no encoder has embeddings for {db}; run 'looklift encode' first")
    results = []
    with progress() as bar:
        for name in names:
            task = bar.add_task(f"neighbors {name}", total=1)

            def on_progress(_stage: str, done: int, total: int, task: int = task) -> None:
                bar.update(task, completed=done, total=total)

            results.append(
                write_neighbors(
                    db, name, k=k, index=spec, progress=on_progress, batch_size=batch_size
                )
            )
    for r in results:
        if k > r.n_items - 1:  # an item's neighbors are the other items: n - 1 at most
            err.print(
                f"[yellow]note[/] {r.encoder}: asked for {k} neighbors per item, but the "
                f"catalog has {r.n_items} items: wrote {r.n_items - 1} per item",
                highlight=False,
            )
    if format is OutputFormat.json:
        print_json(results)
        return
    rows = []
    for r in results:
        recall = f"{r.recall.recall:.3f}" if r.recall else "exact"
        rows.append((r.encoder, r.n_items, r.n_rows, r.k, r.index, recall, f"{r.seconds:.1f}"))
    out.print(
        table(
            "Neighbors written",
            ["encoder", "items", "rows", "k", "index", f"recall@{k}", "seconds"],
            rows,
        )
    )
    for r in results:
        if r.recall:
            out.print(
                f"{r.encoder}: {r.recall.index} finds {r.recall.recall:.1%} of the exact "
                f"top-{k} on {r.recall.n_queries} sampled items; "
                f"{r.recall.qps_index:,.0f} vs {r.recall.qps_exact:,.0f} queries/s exact"
            )
