"""Write the meta-schemas generated from the contracts: ``python -m skillrun.contracts.export DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skillrun.contracts.automl import Review, TrialRow
from skillrun.contracts.job import JobRecord
from skillrun.contracts.results import BestRec, StatusEvent
from skillrun.contracts.skill import Evals, SkillInfo

#: file name -> (model, title); the files live in the repository's ``schemas/``.
META_SCHEMAS = {
    "skill_info.schema.json": (SkillInfo, "skillrun skill_info.yaml"),
    "evals.schema.json": (Evals, "skillrun evals/evals.json"),
    "job_record.schema.json": (JobRecord, "skillrun jobs/<job_id>/job.json"),
    "status_event.schema.json": (StatusEvent, "skillrun <results_dir>/<action>/status.json (one event per line)"),
    "best_rec.schema.json": (BestRec, "skillrun AutoML best_rec.json"),
    "automl_review.schema.json": (Review, "skillrun AutoML launch review (plan --json automl.review, <results_dir>/train/review.json)"),
    "automl_trial.schema.json": (TrialRow, "skillrun AutoML trials.json (one row)"),
}


def render(model: type, title: str) -> str:
    """The meta-schema text for ``model`` (stable key order, trailing newline)."""
    schema = model.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("schemas")
    for name, (model, title) in META_SCHEMAS.items():
        (out / name).write_text(render(model, title), encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
