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
    from typer import _click as click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    import click
    from click import exceptions as click_exceptions
from typer.core import TyperCommand

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


# What typer writes for a type in --help (``<int>``), and what a reader expects instead.
_METAVARS = {
    "int": "N",
    "float": "NUMBER",
    "str": "TEXT",
    "path": "PATH",
    "file": "FILE",
    "dir": "DIR",
    "datetime": "DATETIME",
    "bool": "BOOLEAN",
}


def readable_metavar(param: click.Parameter, ctx: click.Context) -> str:
    """The metavar --help shows for ``param``: FILE, PATH, N, NUMBER, TEXT, DATE...

    An argument is named by its own name in capitals. An option by its type:
    typer writes ``<int>``, ``<list[str]>`` or ``<%Y-%m-%d>``, which read as code.
    """
    if param.param_type_name == "argument":
        return (param.name or "value").upper()
    display = getattr(param, "display_type", None)
    label = display(ctx).strip("<>") if display else param.type.name
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if "%" in label:  # strftime formats
        return "DATETIME" if "%H" in label else "DATE"
    if "|" in label:  # choices
        return f"[{label}]"
    return _METAVARS.get(label.lower(), label.upper())


class ReadableCommand(TyperCommand):
    """A verb whose --help reads as click's did: ``FILE``, ``--db PATH``, ``--days N``.

    typer writes required arguments as ``{file}`` and types as ``<int>`` or
    ``<list[str]>``. Every parameter without an explicit ``metavar`` gets a
    readable one (:func:`readable_metavar`); arguments are written ``FILE`` when
    required, ``[FILE]`` when optional and ``FILE...`` when they take several.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        ctx = click.Context(self)
        for param in self.params:
            if param.metavar is None and not getattr(param, "is_flag", False):
                param.metavar = readable_metavar(param, ctx)

    @staticmethod
    def _argument(param: click.Parameter) -> str:
        return f"{param.metavar}..." if param.nargs != 1 else str(param.metavar)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = self._argument(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((self._argument(param), record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


# Each module under looklift/commands registers its verbs with ``register(app)``.
COMMAND_MODULES = (
    "world",
    "ingest",
    "validate",
    "assign",
    "export-growthbook",
    "encode",
    "finetune",
    "neighbors",
    "history",
    "offline-eval",
    "simulate",
    "refresh",
    "analyze",
    "report",
    "serve",
    "demo",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"looklift.commands.{_name.replace('-', '_')}").register(app)
for _info in app.registered_commands:  # readable --help for every verb that sets no class
    if _info.cls in (None, TyperCommand):
        _info.cls = ReadableCommand


def _fail(message: str, code: int = 2) -> int:
    """Print ``message`` as one error line; it is text, never rich markup (a spec's
    field ``[/]`` or ``[red]`` must print as written, not fail or repaint the line)."""
    from rich.markup import escape

    err.print(f"[bold red]looklift: error:[/] {escape(message)}", highlight=False)
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
