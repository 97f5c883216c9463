"""All terminal output goes through here: rich tables for people, one JSON document for machines.

Results go to stdout; diagnostics (errors, warnings, notes) go to stderr.
rich is imported only when something is drawn, so ``--json`` paths stay fast.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from skillrun.contracts.report import Issue


def emit_json(data: Any) -> None:
    """Exactly one JSON document on stdout: indented on a terminal, compact in a pipe (C encoder, 2x faster)."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, default=str) + "\n")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def stderr_console() -> Any:
    """The rich console for diagnostics and progress (stderr)."""
    return _console(stderr=True)


def table(title: str | None, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(_literal(v) for v in row))
    _console().print(t)


def fields(title: str | None, rows: Iterable[tuple[str, Any]]) -> None:
    """A two-column key/value table without a header row."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in rows:
        t.add_row(key, _literal(value))
    _console().print(t)


def _literal(value: Any) -> Any:
    """A table cell shown as is: job messages and paths may hold ``[...]`` that rich would read as markup."""
    from rich.text import Text

    return Text("" if value is None else str(value))


def text(message: str) -> None:
    _console().print(message, markup=False)


def markup(message: str) -> None:
    _console().print(message)


def success(message: str) -> None:
    _console(stderr=True).print(f"[green]✓[/green] {_escape(message)}")


def note(message: str) -> None:
    _console(stderr=True).print(f"[dim]{_escape(message)}[/dim]")


def error(message: str, hint: str | None = None) -> None:
    con = _console(stderr=True)
    con.print(f"[bold red]error:[/bold red] {_escape(message)}")
    if hint:
        con.print(f"  [yellow]hint:[/yellow] {_escape(hint)}")


def issues(items: Iterable[Issue]) -> None:
    """Each issue on its own line, errors in red and warnings in yellow, on stderr."""
    con = _console(stderr=True)
    for issue in items:
        tag = "[bold red]✗[/bold red]" if issue.severity == "error" else "[yellow]![/yellow]"
        con.print(f"{tag} {_escape(issue.render())}")


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)
