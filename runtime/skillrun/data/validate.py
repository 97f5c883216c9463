"""``skillrun run dataset-validate validate``: the builtin engine's handler (no torch).

Why a job and not only a preflight: the report (every problem, class balance, box sizes)
and the sample grid are results people open later and agents read with
``skillrun results JOB``. It writes ``<out>/report.json``, ``<out>/samples.png``,
``<out>/metrics.json`` (counts, per problem code) and status events, prints tables, and
returns 2 when the dataset has error-level problems, so the job ends ERROR with a
message that names them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from skillrun.data.checks import CheckOptions, check_dataset, plural
from skillrun.data.dataset_report import DatasetReport, Problem
from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter

REPORT_FILE = "report.json"
SAMPLES_FILE = "samples.png"
METRICS_FILE = "metrics.json"
FAIL_ON = ("error", "warning", "never")


def sources_of(spec: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``(json_file, image_dir)`` pairs: ``dataset.json_file``/``image_dir`` first, then ``dataset.sources``."""
    ds = spec.get("dataset") or {}
    out: list[tuple[str, str | None]] = []
    if ds.get("json_file"):
        out.append((str(ds["json_file"]), _opt(ds.get("image_dir"))))
    for entry in ds.get("sources") or []:
        if isinstance(entry, dict) and entry.get("json_file"):
            out.append((str(entry["json_file"]), _opt(entry.get("image_dir"))))
    return out


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def run(spec: dict[str, Any], out: Path) -> int:
    """Check the sources of ``spec``; 0 when clean enough for ``validate.fail_on``, else 2."""
    status = StatusWriter(out)
    opts = spec.get("validate") or {}
    sources = sources_of(spec)
    status.write("STARTED", f"validating {plural(len(sources), 'source')}")
    if not sources:
        msg = "no data source to validate: pass json_file=FILE image_dir=DIR, or dataset.sources=[{json_file: ..., image_dir: ...}]"
        status.write("FAILURE", msg, error_class="DatasetSpecError")
        print(msg, file=sys.stderr)
        return 2
    options = CheckOptions(decode=bool(opts.get("decode_images", False)), workers=int(opts.get("workers", 8)), max_ids=int(opts.get("max_ids", 20)), tolerance=float(opts.get("bbox_tolerance", 1.0)))
    report, checked = check_dataset(sources, options)
    samples = out / SAMPLES_FILE
    count = int(opts.get("num_samples", 16))
    if count > 0 and any(c.report.images_read for c in checked):
        from skillrun.data.report_grid import draw_samples

        if draw_samples(checked, samples, count=count, cell=int(opts.get("sample_size", 256)), seed=int(opts.get("seed", 0))):
            report = report.model_copy(update={"samples": str(samples)})
    atomic_write_text(out / REPORT_FILE, report.model_dump_json(indent=1) + "\n")
    kpi = _kpi(report)
    atomic_write_text(out / METRICS_FILE, json.dumps({**kpi, **_per_code(report), "report": str(out / REPORT_FILE)}, indent=1) + "\n")
    from skillrun.data.report_table import print_report

    print_report(report, out / REPORT_FILE)
    fail_on = opts.get("fail_on", "error")
    failing = [] if fail_on == "never" else [p for p in report.problems if p.level == "error" or fail_on == "warning"]
    if failing:
        status.write("FAILURE", failure_message(failing, out / REPORT_FILE), error_class="DatasetInvalid", kpi=kpi)
        return 2
    status.write("SUCCESS", f"{plural(report.errors, 'error')}, {plural(report.warnings, 'warning')} in {plural(len(sources), 'source')}", kpi=kpi)
    return 0


def failure_message(failing: list[Problem], path: Path) -> str:
    """Count first, the report's path second (it survives truncation), then each failing problem."""
    level = "error-level problem" if all(p.level == "error" for p in failing) else "problem"
    items = "; ".join(f"{p.code} ({Path(p.file).name}): {p.message}" for p in failing)
    return f"{plural(len(failing), level)} in the dataset (every problem: {path}): {items}"


def _kpi(report: DatasetReport) -> dict[str, int | float]:
    stats = [s.stats for s in report.sources if s.stats is not None]
    cats = {c.id for st in stats for c in st.classes}
    return {
        "errors": report.errors,
        "warnings": report.warnings,
        "sources": len(report.sources),
        "images": sum(st.images for st in stats),
        "annotations": sum(st.annotations for st in stats),
        "categories": len(cats),
        "seconds": report.seconds,
    }


def _per_code(report: DatasetReport) -> dict[str, int]:
    """Items per problem code over all sources, e.g. ``{"missing_images": 3}``."""
    out: dict[str, int] = {}
    for p in report.problems:
        out[p.code] = out.get(p.code, 0) + p.count
    return out
