"""Uploading a finished job's results to ``s3://`` (``skillrun run --upload s3://bucket/prefix``).

The request is written to ``jobs/<id>/upload.json`` at submit time (after the
target bucket was checked) and carried out by whoever sees the job end: the
local runner, right after the job's process exits and before the terminal
state is recorded, so it works with ``--detach`` and a follower sees the final
state only once the upload is done. What is uploaded mirrors the job folder
under ``<prefix>/<job_id>/``: ``results/**``, ``spec.yaml`` and
``logs/output.log`` (never ``job.json``, ``inputs/`` or ``logs/runner.log``),
minus files matching an ``upload_excludes`` glob (skill_info.yaml) or
``--upload-exclude``. A glob matches the path relative to the job folder or the
file name. ``upload_manifest.json`` (sha256 per file: an S3 multipart ETag is not
an MD5) goes last. A failed upload keeps every local file and is recorded in
``upload.json``, in the log and in the final transition's note.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from skillrun.contracts.job import utcnow
from skillrun.errors import SkillrunError, UsageError
from skillrun.record_io import atomic_write_text

REQUEST = "upload.json"
MANIFEST = "upload_manifest.json"
_ALWAYS = ("spec.yaml", "logs/output.log")


def check_target(uri: str, backend: str) -> str:
    """Check ``--upload URI`` before anything is recorded: syntax, boto3, credentials, bucket."""
    from skillrun.data import s3

    target = s3.parse(uri, what="--upload")
    if backend != "local":
        msg = f"--upload is carried out by the local runner, but this job runs on the {backend} backend"
        raise UsageError(msg, hint="drop --upload and copy results/ yourself, or run with --backend local")
    s3.head_bucket(s3.client(target), target)
    return str(target)


def request(job_dir: Path, uri: str, excludes: list[str]) -> dict[str, Any]:
    """Record the upload a job asks for; ``uri`` gets the job id appended so jobs never overwrite each other."""
    from skillrun.data import s3

    base = s3.parse(uri).child(job_dir.name)
    doc = {"uri": f"{base}/", "excludes": list(dict.fromkeys(excludes)), "state": "requested"}
    atomic_write_text(job_dir / REQUEST, json.dumps(doc, indent=2) + "\n")
    return doc


def pending(job_dir: Path) -> dict[str, Any] | None:
    """The upload request of a job, or None."""
    try:
        doc = json.loads((job_dir / REQUEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("uri") else None


def excluded(rel: str, patterns: list[str]) -> bool:
    """True when ``rel`` (a POSIX path under the job folder) or its file name matches a pattern."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def select(job_dir: Path, patterns: list[str]) -> tuple[list[tuple[Path, str]], list[str]]:
    """(files to upload as (path, relative key), relative paths left out by a pattern)."""
    candidates = [job_dir / rel for rel in _ALWAYS if (job_dir / rel).is_file()]
    results = job_dir / "results"
    if results.is_dir():
        candidates += sorted(p for p in results.rglob("*") if p.is_file())
    keep: list[tuple[Path, str]] = []
    left: list[str] = []
    for path in candidates:
        rel = path.relative_to(job_dir).as_posix()
        (left.append(rel) if excluded(rel, patterns) else keep.append((path, rel)))
    return sorted(keep, key=lambda item: item[1]), sorted(left)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(job_dir: Path, log: Callable[[str], None]) -> str | None:
    """Carry out the job's upload request, if any; returns a one-line note (None when nothing was asked).

    Never raises: a failure is written to ``upload.json`` and returned as the note.
    """
    doc = pending(job_dir)
    if doc is None:
        return None
    uri = str(doc["uri"])
    try:
        from skillrun.data import s3

        base = s3.parse(uri)
        keep, left = select(job_dir, [str(p) for p in doc.get("excludes", [])])
        log(f"uploading {len(keep)} file(s) to {uri} ({len(left)} excluded)")
        client = s3.client(base)
        files = [{"key": rel, "bytes": path.stat().st_size, "sha256": _sha256(path)} for path, rel in keep]
        s3.upload_files(client, keep, base)
        manifest = {"job_id": job_dir.name, "uri": uri, "files": files, "excluded": left, "at": utcnow().isoformat()}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
        try:
            s3.upload_files(client, [(Path(fh.name), MANIFEST)], base)
        finally:
            Path(fh.name).unlink(missing_ok=True)
    except Exception as exc:  # a failed upload must never lose the job's own result
        err = exc if isinstance(exc, SkillrunError) else SkillrunError(f"upload to {uri} failed: {type(exc).__name__}: {exc}")
        note = f"upload to {uri} FAILED: {err.message}; the results are kept in {job_dir / 'results'}"
        _record(job_dir, {**doc, "state": "failed", "error": err.message, "hint": err.hint, "at": utcnow().isoformat()})
        log(note + (f" ({err.hint})" if err.hint else ""))
        return note
    _record(job_dir, {**doc, "state": "done", "files": files, "excluded": left, "manifest": f"{uri}{MANIFEST}", "at": manifest["at"]})
    note = f"uploaded {len(files)} file(s) to {uri}"
    log(note)
    return note


def _record(job_dir: Path, doc: dict[str, Any]) -> None:
    from skillrun.record.secrets import Redactor

    atomic_write_text(job_dir / REQUEST, json.dumps(Redactor().data(doc), indent=2) + "\n")
