"""``python -m skillrun.automl JOB_DIR``: the process a study job runs (under the backend's runner).

It reads the study's record and resolved ``spec.yaml``, rebuilds the study plan
(settings, space; the epoch time only from the cache), writes and prints the
launch review, and hands over to :class:`skillrun.automl.study.Coordinator`.
Exit status: 0 when a trial completed, 1 when none did or the study stopped,
143 when it was canceled.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m skillrun.automl JOB_DIR", file=sys.stderr)
        return 2
    from skillrun import yamlio
    from skillrun.api import load_bank
    from skillrun.automl.plan import plan_study, render, space_rows
    from skillrun.automl.study import Coordinator, install_signals
    from skillrun.contracts.automl import REVIEW_FILE
    from skillrun.launch.prepare import _sizes
    from skillrun.record.store import JobStore
    from skillrun.record_io import atomic_write_text
    from skillrun.results.status import StatusWriter

    job_dir = Path(args[0]).resolve()
    store = JobStore(job_dir.parent.parent)
    record = store.load(job_dir.name)
    folder = Path(record.results_dir) / "train"
    try:
        spec = yamlio.load_file(Path(record.spec_file))
        skill = load_bank().get(record.skill)
        nproc, nnodes = _sizes(skill, "train", spec, None)
        trials_on = record.automl.trial_backend if record.automl and record.automl.trial_backend else record.backend.name
        plan = plan_study(skill, spec, backend=trials_on, nproc=nproc, nnodes=nnodes, workspace=store.workspace, measure=False)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / REVIEW_FILE, plan.review.model_dump_json(indent=2) + "\n")
        print(f"AutoML study {record.id} ({record.skill} train)", flush=True)
        for label, text in render(plan.review):
            print(f"  {label:<17} {text}", flush=True)
        for row in space_rows(plan.review):
            print(f"  search  {row[0]:<40} {row[1]:<12} {row[2]:<28} {row[3]:<18} baseline {row[4]}", flush=True)
        coordinator = Coordinator(store, load_bank(), record, spec, plan, log=lambda line: print(line, flush=True))
        install_signals(coordinator)
        return coordinator.run()
    except Exception as exc:
        traceback.print_exc()
        StatusWriter(folder).write("FAILURE", f"{type(exc).__name__}: {exc}"[:2000], error_class=type(exc).__name__)
        return 1


if __name__ == "__main__":
    sys.exit(main())
