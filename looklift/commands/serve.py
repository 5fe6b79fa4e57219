"""``looklift serve``: the live service: assign, recommend and log over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from looklift.console import err


def register(app: typer.Typer) -> None:
    app.command(
        "serve",
        help="Serve experiments live over HTTP: GET /v1/recommendations assigns the user "
        "(the hashing, targeting, holdouts and forced units of 'looklift assign'), returns "
        "the variant's similar looks and logs the exposure and impressions; POST /v1/events "
        "logs taps and purchases (idempotent by event_id); GET /v1/assign, /healthz, "
        "/metrics; OpenAPI docs at /docs. A request is answered only once what it logged "
        "is fsynced in a write-ahead log; a single writer moves it into --db, and the log "
        "is replayed on start. Stop with Ctrl-C (or SIGTERM): what is logged is stored "
        "before it exits.",
    )(serve)


def serve(
    db: Annotated[Path, typer.Option(help="DuckDB file with the neighbors; receives the logs.")],
    spec: Annotated[
        list[Path], typer.Option("--spec", help="Experiment YAML to serve; repeatable.")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    wal: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of the write-ahead log (default: <db>.serving-log beside --db).",
        ),
    ] = None,
    log: Annotated[
        bool,
        typer.Option(
            "--log/--no-log",
            help="--no-log serves without logging anything (to measure what logging costs).",
        ),
    ] = True,
) -> None:
    from abtest.spec import load_spec
    from abtest.store import require_database
    from looklift.errors import UsageProblem

    try:
        import uvicorn

        from serving.app import ServiceConfig, create_app
    except ImportError:
        raise UsageProblem("the service needs its extra: pip install 'looklift[serve]'") from None
    require_database(db)
    specs = [load_spec(file) for file in spec]
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise UsageProblem(f"--spec: an experiment is given twice ({', '.join(keys)})")
    config = ServiceConfig(db, specs, wal=wal, log_exposures=log)
    app = create_app(config)
    err.print(
        f"serving {', '.join(keys)} on http://{host}:{port} (docs: /docs); "
        f"log: {config.wal_folder()}",
        highlight=False,
    )
    # The store's writer thread shares the interpreter with the event loop: hand the
    # lock back every millisecond (Python's default is 5 ms), so that a request never
    # waits long behind a batch being stored.
    sys.setswitchinterval(0.001)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
