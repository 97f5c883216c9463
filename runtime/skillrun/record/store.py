"""The job store: ``<workspace>/jobs/<job_id>/`` folders, read and written safely by many processes.

Ids are reserved with an exclusive ``mkdir`` (so concurrent submitters never
share one), ``job.json`` is replaced atomically, and every read-modify-write
holds the job's lock file, so the runner, ``cancel`` and ``status`` can race
without losing a transition.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from skillrun.errors import ResolutionError, SkillrunError
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.contracts.job import JobRecord, JobState

RECORD = "job.json"
SPEC = "spec.yaml"
LOGS = "logs"
LOG_FILE = "output.log"
RESULTS = "results"
LOCK = ".lock"


class JobStore:
    """All jobs of one workspace."""

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        self.workspace = Path(workspace)
        self.root = self.workspace / "jobs"

    # -- layout
    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def log_file(self, job_id: str) -> Path:
        return self.job_dir(job_id) / LOGS / LOG_FILE

    # -- creation
    @staticmethod
    def new_id(skill: str, action: str) -> str:
        """A candidate id ``<skill>-<action>-<6 hex>``; :meth:`claim` makes it ours."""
        return f"{skill}-{action}-{secrets.token_hex(3)}"

    def claim(self, job_id: str) -> bool:
        """Create the job's folder; False if another job already has this id."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            (self.root / job_id).mkdir()
        except FileExistsError:
            return False
        (self.root / job_id / LOGS).mkdir()
        return True

    def reserve(self, skill: str, action: str) -> str:
        """A new job id whose folder now exists and belongs to the caller."""
        for _ in range(64):
            job_id = self.new_id(skill, action)
            if self.claim(job_id):
                return job_id
        msg = f"could not reserve a new job id under {self.root} after 64 tries"
        raise SkillrunError(msg, hint="the jobs folder is nearly full for this skill and action; prune old jobs")

    def create(self, record: JobRecord) -> JobRecord:
        """Write the first version of ``job.json`` (the folder must have been reserved)."""
        path = self.job_dir(record.id) / RECORD
        if path.exists():
            msg = f"job {record.id} already has a record at {path}"
            raise SkillrunError(msg)
        atomic_write_text(path, _dump(record))
        return record

    # -- reading
    def load(self, job_id: str) -> JobRecord:
        from skillrun.contracts.job import JobRecord

        path = self.job_dir(job_id) / RECORD
        try:
            return JobRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise self._unknown(job_id) from None

    def resolve_id(self, text: str) -> str:
        """A full job id from an id or a unique prefix of one; unknown or ambiguous → exit 3."""
        if (self.root / text / RECORD).is_file():
            return text
        if not self.root.is_dir():
            raise self._unknown(text)
        matches = sorted(n for n in os.listdir(self.root) if n.startswith(text) and (self.root / n / RECORD).is_file())
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise self._unknown(text)
        shown = ", ".join(matches[:8]) + (" ..." if len(matches) > 8 else "")
        msg = f"job id prefix {text!r} matches {len(matches)} jobs: {shown}"
        raise ResolutionError(msg, hint="give more characters of the id", data={"found": matches[:50]})

    def iter_raw(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        """Every readable record (whose id starts with ``prefix``) as a plain dict: the fast path for listing."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as it:
            for entry in it:
                if prefix and not entry.name.startswith(prefix):
                    continue
                try:
                    with open(os.path.join(entry.path, RECORD), "rb") as fh:
                        yield json.loads(fh.read())
                except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
                    continue  # a folder being reserved, or not a job

    def query(self, *, skill: str | None = None, state: str | None = None, parent: str | None = None) -> list[dict[str, Any]]:
        """Records (as dicts) matching every filter given, newest first."""
        out = []
        for rec in self.iter_raw(f"{skill}-" if skill else ""):
            if skill and rec.get("skill") != skill:
                continue
            if state and rec.get("state") != state:
                continue
            if parent and (rec.get("parent") or {}).get("job_id") != parent:
                continue
            out.append(rec)
        out.sort(key=lambda r: r.get("created_at", ""), reverse=True)
        return out

    # -- updating
    def update(self, job_id: str, change: Callable[[JobRecord], JobRecord | None]) -> JobRecord:
        """Read, change and write the record under its lock; ``change`` returns None to leave it as is."""
        from filelock import FileLock

        with FileLock(str(self.job_dir(job_id) / LOCK)):
            old = self.load(job_id)
            new = change(old)
            if new is None or new == old:
                return old
            if new.transitions[: len(old.transitions)] != old.transitions or new.id != old.id:
                msg = f"job {job_id}: refusing to rewrite its history of transitions"
                raise SkillrunError(msg)
            atomic_write_text(self.job_dir(job_id) / RECORD, _dump(new))
            return new

    def move(self, job_id: str, state: JobState, *, by: str, note: str | None = None, only_from: set[JobState] | None = None, **changes: Any) -> JobRecord:
        """Move the job to ``state`` unless it is already terminal (or not in ``only_from``)."""

        from skillrun.contracts.job import JobState

        def change(rec: JobRecord) -> JobRecord | None:
            allowed_from = only_from if only_from is not None else {s for s in JobState if not s.terminal}
            if rec.state not in allowed_from:
                return None
            return rec.moved(state, by=by, note=note, **changes)

        return self.update(job_id, change)

    def _unknown(self, job_id: str) -> ResolutionError:
        recent = [r["id"] for r in self.query()[:5]]
        hint = "list jobs with `skillrun jobs`" + (f"; recent: {', '.join(recent)}" if recent else "")
        return ResolutionError(f"no job {job_id!r} in {self.root}", hint=hint, data={"found": recent}, path="job", value=job_id)


def _dump(record: JobRecord) -> str:
    return record.model_dump_json(indent=2) + "\n"
