"""The ``looklift`` command line: one verb per step of the journey.

Every verb that produces results prints a human table and can write
``--format json``. User mistakes (bad options, bad files, bad specs) print one
line naming the problem and exit with code 2, without a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

try:  # typer >= 0.20 vendors its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions

from looklift.console import err
from looklift.errors import user_error_types

app = typer.Typer(
    name="looklift",
    help="A/B tests of visually-similar-item recommenders: catalog, encoders, "
    "offline evaluation, experiments, analysis and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """A/B tests of visually-similar-item recommenders."""


# Each module under looklift/commands registers its verbs with ``register(app)``.
COMMAND_MODULES = (
    "world",
    "validate",
    "assign",
    "encode",
    "finetune",
    "neighbors",
    "history",
    "offline-eval",
    "simulate",
    "analyze",
    "report",
    "demo",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"looklift.commands.{_name.replace('-', '_')}").register(app)


def _fail(message: str, code: int = 2) -> int:
    err.print(f"[bold red]looklift: error:[/] {message}", highlight=False)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by ``main`` and by tests)."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="looklift", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click_exceptions.UsageError as exc:
        hint = f" (see 'looklift {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent else ""
        if exc.ctx and not exc.ctx.parent:
            hint = " (see 'looklift --help')"
        return _fail(f"{exc.format_message()}{hint}")
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        return _fail("aborted", 130)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except click_exceptions.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code or 2)
    except user_error_types() as exc:  # type: ignore[misc]
        return _fail(str(exc))
    return int(result) if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
