"""The supervisor inside a Slurm allocation: ``python -m skillrun.backends.slurm.step JOB_DIR --restart N -- srun ...``.

The batch script ``exec``s it on the first node. Like the local runner it
records RUNNING, relays the output of ``srun`` to ``logs/output.log`` with
secrets masked, and records COMPLETE or ERROR (exit code, error class, metrics)
when the command ends by itself.

When Slurm signals it (``scontrol requeue``, preemption, the time limit, a
``scancel`` from outside) it records nothing final: it cannot tell those apart,
Slurm can. It keeps relaying until ``srun`` is gone, then leaves; ``status`` of
the backend writes CANCELED, ERROR/SlurmTimeout or the requeue from what Slurm
says. skillrun's own ``cancel`` marks the record first (``cancel_requested``) and
signals only the steps, so the supervisor then records CANCELED itself, and
scancels its own job so that Slurm's accounting says CANCELLED as well.

On a restart (``SLURM_RESTART_COUNT`` > 0) it first points the action's resume
keys at the newest complete checkpoint in the results folder (the spec before
is kept as ``spec.restart<N>.yaml``), so the job goes on where it stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
import subprocess
import sys
from pathlib import Path

from skillrun.contracts.job import JobRecord, JobState
from skillrun.record.secrets import Redactor
from skillrun.record.store import JobStore

_SIGNALED: str | None = None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m skillrun.backends.slurm.step", usage="%(prog)s JOB_DIR [--restart N] -- COMMAND...")
    ap.add_argument("job_dir", type=Path)
    ap.add_argument("--restart", type=int, default=0, help="SLURM_RESTART_COUNT (how often Slurm requeued the job)")
    cut = argv.index("--") if "--" in argv else len(argv)
    args, cmd = ap.parse_args(argv[:cut]), argv[cut + 1 :]
    if not cmd:
        ap.error("no command after --")
    job_dir = args.job_dir.resolve()
    store = JobStore(job_dir.parent.parent)
    job_id = job_dir.name
    record = store.load(job_id)
    if record.state.terminal:  # canceled while it waited in the queue
        print(f"skillrun: job {job_id} is already {record.state.value}; nothing to run")
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, _on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    note = _apply_restart(store, record, args.restart) if args.restart > 0 else None
    record = _register(store, job_id, args.restart, note)
    if record.state.terminal:
        return 0
    return _supervise(store, record, cmd, note)


def _on_signal(signum: int, frame: object) -> None:
    global _SIGNALED
    _SIGNALED = signal.Signals(signum).name


def _apply_restart(store: JobStore, record: JobRecord, restart: int) -> str:
    """Point the resume keys at the newest complete checkpoint; returns the note for the record."""
    from skillrun import yamlio
    from skillrun.composition import paths
    from skillrun.record_io import atomic_write_text
    from skillrun.resolve.checkpoints import newest_checkpoint

    plan = record.backend.ref.get("resume") or {}
    keys, clear = list(plan.get("set") or []), list(plan.get("clear") or [])
    found = newest_checkpoint(Path(record.results_dir) / record.action)
    head = f"requeued by Slurm (restart {restart})"
    if not keys:
        return f"{head}; {record.action} has no resume key, so it starts over"
    if found is None:
        return f"{head}; no complete checkpoint yet, so it starts over"
    spec_path = Path(record.spec_file)
    spec = yamlio.load_file(spec_path) or {}
    for key in keys:
        paths.assign(spec, paths.parse(key), str(found.path))
    for key in clear:
        tokens = paths.parse(key)
        if paths.has(spec, tokens):
            paths.assign(spec, tokens, None)
    shutil.copy2(spec_path, spec_path.with_name(f"spec.restart{restart - 1}.yaml"))
    header = f"# {record.skill} {record.action}, job {record.id}: the resolved spec, restart {restart} resumes from {found.path.name}\n"
    atomic_write_text(spec_path, header + yamlio.dumps(spec))
    return f"{head}; resuming from {found.path.name} (epoch {found.epoch}): {', '.join(keys)}"


def _register(store: JobStore, job_id: str, restart: int, note: str | None) -> JobRecord:
    """Record where the job runs (batch host, nodes, this pid) and move it to RUNNING (after a requeue: via PENDING)."""
    import psutil

    me = psutil.Process()
    where = {
        "batch_host": os.environ.get("SLURMD_NODENAME", ""),
        "nodes": os.environ.get("SLURM_JOB_NODELIST", ""),
        "restarts": restart,
        "step_pid": me.pid,
        "step_create_time": me.create_time(),
    }
    slurm_id = os.environ.get("SLURM_JOB_ID", "?")

    def change(rec: JobRecord) -> JobRecord | None:
        if rec.state.terminal:
            return None
        new = rec.with_ref(**where)
        if new.state is JobState.RUNNING and restart > 0:
            new = new.moved(JobState.PENDING, by="backend:slurm", note=f"requeued by Slurm (restart {restart})")
        if new.state is JobState.PENDING:
            new = new.moved(JobState.RUNNING, by="runner", note=note or f"Slurm job {slurm_id} on {where['nodes']}")
        return new

    return store.update(job_id, change)


def _supervise(store: JobStore, record: JobRecord, cmd: list[str], note: str | None) -> int:
    from skillrun.backends import runner

    redact = Redactor()
    slurm_id = os.environ.get("SLURM_JOB_ID", "?")
    with open(store.log_file(record.id), "ab", buffering=0) as log:

        def say(text: str) -> None:
            log.write(redact.bytes(f"[skillrun] {text}\n".encode()))

        say(f"{record.id}: Slurm job {slurm_id} on {os.environ.get('SLURM_JOB_NODELIST', '?')}: {' '.join(record.launch.argv)}")
        if note:
            say(note)
        try:
            child = subprocess.Popen(cmd, cwd=record.launch.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            msg = f"could not start {cmd[0]!r}: {exc.strerror or exc}"
            say(msg)
            store.move(record.id, JobState.ERROR, by="runner", error_class="LaunchError", error_message=redact.text(msg))
            return 1
        code, tail = runner.relay(child, log, redact)
        if _SIGNALED:
            say(f"stopped by {_SIGNALED} from Slurm (exit code {code}); the backend records why (cancel, requeue, preemption or time limit)")
        else:
            say(f"exit code {code}")
    if store.load(record.id).backend.ref.get("cancel_requested"):  # cancel signals the steps, not this process
        store.move(record.id, JobState.CANCELED, by="runner", note="stopped by cancel", exit_code=code)
        _end_as_cancelled()
        return 0
    if _SIGNALED or (code != 0 and _ended_by_slurm(code)):
        return 128 + signal.Signals[_SIGNALED].value if _SIGNALED else 1
    upload_note = runner._upload(store, record, lambda text: None)  # noqa: SLF001 - the local runner's upload step, shared
    runner._finish(store, record, code, tail, redact, upload_note)  # noqa: SLF001 - same outcome rules as a local job
    return code if 0 <= code < 256 else 1


def _end_as_cancelled() -> None:
    """``scancel`` this job before the batch script exits, so Slurm too says CANCELLED (squeue, sacct), not COMPLETED.

    Otherwise the backend's own ``scancel`` comes after the batch script has
    already ended with 0, and a canceled (e.g. pruned) job counts as a success in
    the cluster's accounting. Slurm's SIGTERM that follows only sets ``_SIGNALED``.
    """
    job_id = os.environ.get("SLURM_JOB_ID")
    if job_id:
        try:
            subprocess.run(["scancel", job_id], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            pass


def _ended_by_slurm(code: int) -> bool:
    """Slurm is ending the job (canceled, requeued, timed out): the command's failure is not the job's own.

    srun can exit before the supervisor's own SIGTERM arrives, so the state Slurm
    holds for the job decides. A command killed by a signal gets a few seconds for
    that state (or our own signal) to show: under load the controller may lag.
    """
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id:
        return False
    tries = 10 if code in (-signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM, 128 + signal.SIGKILL) else 1
    for attempt in range(tries):
        if _SIGNALED:
            return True
        try:
            out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        state = next((w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")), "RUNNING")
        if state not in ("RUNNING", "COMPLETING"):
            return True
        if attempt < tries - 1:
            time.sleep(0.5)
    return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
