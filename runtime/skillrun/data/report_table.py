"""The readable side of a dataset report: rich tables on stdout (the job log).

Why its own module: the handler decides, this only draws, and ``report.json`` stays the
single source (everything here is read back from :class:`DatasetReport`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from skillrun.data.checks import plural, shown
from skillrun.data.dataset_report import DatasetReport, SourceStats


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 140)


def print_report(report: DatasetReport, report_file: Path | None = None) -> None:
    """Sources, problems (errors first, with what to do), class balance and box sizes."""
    from rich.markup import escape
    from rich.table import Table

    con = _console()
    t = Table(title="sources", title_justify="left")
    for col in ("#", "json_file", "image_dir", "images", "annotations", "categories", "errors", "warnings", "seconds"):
        t.add_column(col, overflow="fold")
    for s in report.sources:
        st = s.stats
        folder = s.image_dir if s.images_read else f"{s.image_dir or '-'} (not read)"
        counts = [str(n) for n in (st.images, st.annotations, st.categories)] if st else ["-", "-", "-"]
        t.add_row(str(s.index), escape(s.json_file), escape(folder or ""), *counts, str(s.errors), str(s.warnings), f"{s.seconds:.2f}")
    con.print(t)
    if report.problems:
        t = Table(title="problems", title_justify="left")
        for col in ("level", "code", "src", "count", "problem", "what to do"):
            t.add_column(col, overflow="fold")
        for p in report.problems:
            colour = "red" if p.level == "error" else "yellow"
            t.add_row(f"[{colour}]{p.level}[/{colour}]", p.code, str(p.source), str(p.count), escape(p.message), escape(p.hint or ""))
        con.print(t)
    for s in report.sources:
        if s.stats is not None:
            _stats(con, s.index, Path(s.json_file).name, s.stats)
    mark = "[green]✓[/green]" if report.ok else "[red]✗[/red]"
    where = f"; report: {escape(str(report_file))}" if report_file else ""
    where += f"; samples: {escape(report.samples)}" if report.samples else ""
    con.print(f"{mark} {plural(report.errors, 'error')}, {plural(report.warnings, 'warning')} in {report.seconds:.2f} s{where}")


def _stats(con: Any, index: int, name: str, st: SourceStats) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(f"source {index} ({name}): class balance"), title_justify="left")
    for col in ("class", "id", "annotations", "images", "share"):
        t.add_column(col)
    for c in sorted(st.classes, key=lambda c: -c.annotations):
        t.add_row(escape(c.name), str(c.id), str(c.annotations), str(c.images), f"{c.share:.1%}")
    con.print(t)
    b = st.boxes
    t = Table(title=f"source {index}: box sizes (px)", title_justify="left")
    for col in ("", "min", "p5", "p50", "p95", "max", "mean"):
        t.add_column(col)
    for label, sp in (("width", b.width), ("height", b.height), ("area", b.area)):
        if sp is not None:
            t.add_row(label, *(f"{v:g}" for v in (sp.min, sp.p5, sp.p50, sp.p95, sp.max, sp.mean)))
    con.print(t)
    sizes = shown([f"{s.width}x{s.height} ({s.count})" for s in st.image_sizes])
    line = f"  boxes: {b.count} (COCO small < 32²: {b.small}, medium < 96²: {b.medium}, large: {b.large}); images: {st.images} ({st.images_without_annotations} without annotations), sizes {sizes or '-'}"
    con.print(escape(line))
