"""The small supervisor that owns a local job: ``python -m skillrun.backends.runner JOB_DIR``.

It detaches (double fork + setsid, so it outlives the CLI that started it and
is never left a zombie of it), records its pid, process-group id and start time
in ``job.json``, starts the job's command in its (the runner's) process group, copies the
output to ``logs/output.log`` with secrets masked, and writes the terminal
state (exit code, error class, metrics) when the command ends. SIGTERM from
``cancel`` reaches the whole group; the runner then records CANCELED.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import IO, Any, Callable, Iterable, cast

from skillrun.contracts.job import JobRecord, JobState
from skillrun.record.secrets import Redactor
from skillrun.record.store import JobStore
from skillrun.results.summary import failure, summarize

_EXC_LINE = re.compile(rb"^(?P<cls>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failure|Warning))(?::\s*(?P<msg>.*))?$")
_CANCELED = False


def main(argv: list[str]) -> int:
    return detach(Path(argv[0]), _supervise, "skillrun runner")


def detach(job_dir: Path, supervise: Callable[[JobStore, JobRecord], None], name: str) -> int:
    """Detach (fork + setsid), register in ``job.json``, then ``supervise`` the job in the background.

    Shared by every supervisor (local and docker), so each records the same ref
    (pid, pgid, start time, host) that ``local._owned`` checks before signalling.
    Returns in the intermediate process only: 0 once the detached one has
    registered, 1 if it could not (its reason on stderr, prefixed with ``name``).
    """
    job_dir = job_dir.resolve()
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:  # the intermediate process: wait until the detached supervisor has registered itself
        os.close(write_fd)
        return 0 if os.read(read_fd, 1) == b"1" else 1
    os.close(read_fd)
    os.setsid()
    store = JobStore(job_dir.parent.parent)
    job_id = job_dir.name
    try:
        record = _register(store, job_id)
    except Exception as exc:  # nothing launched: tell the submitter through the exit status
        os.write(2, f"{name}: {exc}\n".encode())
        os.write(write_fd, b"0")
        os._exit(1)
    os.write(write_fd, b"1")
    os.close(write_fd)
    _redirect_std(store.job_dir(job_id) / "logs" / "runner.log")
    try:
        supervise(store, record)
    except Exception:
        traceback.print_exc()
        store.move(job_id, JobState.ERROR, by="runner", error_class="RunnerError", error_message=f"the {name} failed; see logs/runner.log")
    os._exit(0)


def relay(child: Any, log: Any, redact: Any) -> tuple[int, list[bytes]]:
    """Copy the child's output to the log, secrets masked, as it comes; its exit code and last 50 lines."""
    out = cast(IO[bytes], child.stdout)
    tail = relay_lines(iter(lambda: out.readline(1 << 20), b""), log, redact, 50)
    return child.wait(), tail


def relay_lines(lines: Iterable[bytes], log: Any, redact: Redactor, keep: int) -> list[bytes]:
    """Write each line to the log with secrets masked, as it comes; the last ``keep`` (masked) lines.

    One loop for a process's pipe and a container's log stream, so both are masked the same way.
    """
    tail: list[bytes] = []
    for line in lines:
        masked = redact.bytes(line)
        log.write(masked)
        tail = [*tail[-(keep - 1) :], masked]
    return tail


def _register(store: JobStore, job_id: str) -> JobRecord:
    import psutil

    me = psutil.Process()
    mine = {"pid": me.pid, "pgid": os.getpgid(0), "create_time": me.create_time(), "host": socket.gethostname()}

    def change(rec: JobRecord) -> JobRecord | None:
        if rec.state is not JobState.PENDING:
            msg = f"job {job_id} is {rec.state.value}, not PENDING"
            raise RuntimeError(msg)
        return rec.with_ref(**mine)

    return store.update(job_id, change)


def _redirect_std(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)


def _on_term(signum: int, frame: object) -> None:
    global _CANCELED
    _CANCELED = True


def _supervise(store: JobStore, record: JobRecord) -> None:
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    redact = Redactor()
    log_path = store.log_file(record.id)
    launch = record.launch
    env = {**os.environ, **launch.env}
    with open(log_path, "ab", buffering=0) as log:
        log.write(redact.bytes(f"[skillrun] {record.id}: {' '.join(launch.argv)}\n".encode()))
        try:
            child = subprocess.Popen(launch.argv, cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            msg = f"could not start {launch.argv[0]!r}: {exc.strerror or exc}"
            log.write(redact.bytes(f"[skillrun] {msg}\n".encode()))
            store.move(record.id, JobState.ERROR, by="runner", error_class="LaunchError", error_message=redact.text(msg))
            return
        if _CANCELED:
            child.terminate()
        store.move(record.id, JobState.RUNNING, by="runner", note=f"pid {child.pid}", only_from={JobState.PENDING})
        code, tail = relay(child, log, redact)
        log.write(f"[skillrun] exit code {code}\n".encode())
        note = _upload(store, record, lambda line: log.write(redact.bytes(f"[skillrun] {line}\n".encode())))
    _finish(store, record, code, tail, redact, note)


def _upload(store: JobStore, record: JobRecord, log: Callable[[str], object]) -> str | None:
    """Carry out ``--upload`` (skillrun.data.upload) before the terminal state, so followers see it done."""
    job_dir = store.job_dir(record.id)
    if not (job_dir / "upload.json").is_file():
        return None
    if _CANCELED:
        return "upload skipped: the job was canceled"
    from skillrun.data import upload

    return upload.run(job_dir, log)


def _finish(store: JobStore, record: JobRecord, code: int, tail: list[bytes], redact: Redactor, note: str | None = None) -> None:
    metrics = redact.data(summarize(record.results_dir, record.action))  # metrics.json strings may quote the environment
    if _CANCELED:
        store.move(record.id, JobState.CANCELED, by="runner", note="stopped by cancel" + (f"; {note}" if note else ""), exit_code=code, metrics=metrics)
    elif code == 0:
        store.move(record.id, JobState.COMPLETE, by="runner", note=note, exit_code=0, metrics=metrics)
    else:
        cls, msg = failure(record.results_dir, record.action)
        if cls is None:
            cls, msg = _exception_in(tail)
        if cls is None:
            cls = f"Signal{signal.Signals(-code).name}" if code < 0 else "NonZeroExit"
            msg = f"the job exited with code {code}; see `skillrun logs {record.id}`"
        store.move(record.id, JobState.ERROR, by="runner", note=note, exit_code=code, error_class=cls, error_message=redact.text(msg or "")[:2000], metrics=metrics)


def _exception_in(tail: list[bytes]) -> tuple[str | None, str | None]:
    """The last ``SomeError: message`` line of a Python traceback in the output, if any."""
    for line in reversed(tail):
        m = _EXC_LINE.match(line.strip())
        if m:
            return m.group("cls").decode(errors="replace").rsplit(".", 1)[-1], (m.group("msg") or b"").decode(errors="replace")
    return None, None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
