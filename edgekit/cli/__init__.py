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


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: EdgekitError -> one message on stderr and its exit code (usage errors exit 2)."""
    try:
        app(args=argv, prog_name="edgekit")
    except EdgekitError as exc:
        from rich.markup import escape

        from edgekit.cli.common import console

        console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)
