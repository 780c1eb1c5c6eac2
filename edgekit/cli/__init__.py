"""The ``edgekit`` command line: thin. Commands come from one registry (:data:`edgekit.registry.COMMANDS`);
each parses, calls :mod:`edgekit.api`, prints. EdgekitError -> one message and its exit code (2).

Nothing heavy is imported at module level: ``edgekit --help`` never loads TensorFlow.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from edgekit.errors import EdgekitError
from edgekit.registry import COMMANDS

app = typer.Typer(
    name="edgekit",
    help="Compile trained networks (Keras, SavedModel, ONNX) into validated, quantized artifacts for edge targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _entry in COMMANDS:
    if _entry.meta.get("group"):
        app.add_typer(_entry.load(), name=_entry.name)
    else:
        app.command(_entry.name)(_entry.load())


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    from edgekit.cli.common import console

    console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
    sys.exit(code)


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: EdgekitError and usage errors -> one message line on stderr, exit 2; Ctrl-C -> 130."""
    usage_error = typer.BadParameter.__mro__[1]  # typer's (vendored) click UsageError
    try:
        code = app(args=argv, prog_name="edgekit", standalone_mode=False)
    except EdgekitError as exc:
        _fail(str(exc), exc.exit_code)
    except usage_error as exc:
        cmd = exc.ctx.command_path if exc.ctx is not None else "edgekit"
        _fail(f"{' '.join(exc.format_message().split())} (see `{cmd} --help`)", 2)
    except typer.Abort:
        _fail("interrupted", 130)
    if isinstance(code, int) and code:
        sys.exit(code)
