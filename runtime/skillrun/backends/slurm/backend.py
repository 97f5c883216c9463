"""The ``slurm`` backend: ``sbatch`` a rendered script; ``squeue``/``scontrol``/``sacct`` for status; ``scancel``.

One launcher per node: the batch script resolves the rendezvous host (the first
node of the allocation) and ``srun`` starts ``task.sh`` once per node, where
each node computes its own rank (``SLURM_NODEID`` -> ``--node-rank``). Several
processes per node run under torchrun. The job records its own states through
:mod:`skillrun.backends.slurm.step`; this class reconciles the record with what
Slurm says when the job could not (canceled, timed out, node failure, requeued).

Cluster defaults (partition, account, time, GPUs/CPUs per node, extra
``#SBATCH`` lines) come from the ``slurm:`` section of the user config file;
an AutoML study's coordinator job gets a small request instead (one CPU, no
GPU: :mod:`.nested`). Secrets never enter the script: sbatch passes the
submitting environment on, minus the job variables of an allocation it is
submitted from (the coordinator's, or an interactive ``salloc``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.backends.base import DEFAULT_GRACE_S, Backend, LaunchContext
from skillrun.backends.slurm.config import SlurmOptions
from skillrun.backends.slurm.nested import coordinator_options, is_coordinator, submit_env
from skillrun.backends.slurm.script import ScriptInputs, render
from skillrun.backends.slurm.states import ERROR_CLASSES, SlurmJob, normalize
from skillrun.contracts.job import JobRecord, JobState
from skillrun.contracts.skill import param_name
from skillrun.errors import BackendUnavailable, SkillrunError
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.contracts.job import Launch
    from skillrun.engine.base import Command

_TIMEOUT_S = 30
#: how long cancel waits for Slurm to finish a job it killed
_REAP_S = 30.0
RDZV_ARGS = ["--rdzv-backend", "static", "--node-rank", "${NODE_RANK}", "--master-addr", "${MASTER_ADDR}", "--master-port", "${MASTER_PORT}"]


class SlurmBackend(Backend):
    """Runs jobs on a Slurm cluster (one launcher per node; torchrun for several processes per node)."""

    NAME = "slurm"

    @classmethod
    def affinity(cls) -> int:
        return 2 if shutil.which("sbatch") else 0  # plan works anywhere; run needs sbatch (preflight)

    def options(self, launch: Launch | None = None) -> SlurmOptions:
        """The ``slurm:`` config section; for a study coordinator's ``launch``, its small request."""
        from skillrun import userconfig

        options = userconfig.section("slurm", SlurmOptions)[0]
        return coordinator_options(options) if launch is not None and is_coordinator(launch.argv) else options

    def preflight(self) -> None:
        missing = [c for c in ("sbatch", "squeue", "scontrol", "scancel") if not shutil.which(c)]
        if missing:
            msg = f"the slurm backend needs {', '.join(missing)} on PATH, and they are not there"
            raise BackendUnavailable(msg, hint="run skillrun on a Slurm login node, or install the Slurm client (apt-get install slurm-client) and set SLURM_CONF")

    def launch_argv(self, command: Command, nproc: int, nnodes: int) -> list[str]:
        if nnodes > 1:  # static rendezvous; each node's task fills in its own rank (never the batch script)
            return command.torchrun_argv(nproc, nnodes, rdzv=RDZV_ARGS)
        return super().launch_argv(command, nproc, nnodes)

    def plan(self, ctx: LaunchContext, launch: Launch) -> dict[str, Any]:
        options = self.options(launch)
        params = ctx.skill.info.actions[ctx.action].spec_params
        resume = {
            "set": sorted(k for k, r in params.items() if param_name(r) == "resume_model"),
            "clear": sorted(k for k, r in params.items() if param_name(r) == "ptm_if_no_resume_model"),
        }
        inputs = self._inputs(ctx.job_id, ctx.skill.name, ctx.action, ctx.job_dir, launch, options, resume["set"])
        scripts = render(inputs)  # a value no quoting can carry fails here, before anything is written
        return {
            "sbatch": ["sbatch", "--parsable", str(inputs.batch_file)],
            "script_file": str(inputs.batch_file),
            "task_file": str(inputs.task_file),
            "template": inputs.template,
            "script": scripts.batch,
            "task": scripts.task,
            "resume": resume,
        }

    def describe(self, plan: dict[str, Any]) -> list[tuple[str, str]]:
        if not plan.get("script"):
            return []
        return [(f"sbatch script ({plan['script_file']}, submitted with `{' '.join(plan['sbatch'])}`)", plan["script"]), (f"per-node task ({plan['task_file']}, srun runs it once on each node)", plan["task"])]

    def _inputs(self, job_id: str, skill: str, action: str, job_dir: Path, launch: Launch, options: SlurmOptions, resume_keys: list[str]) -> ScriptInputs:
        return ScriptInputs(
            job_id=job_id,
            skill=skill,
            action=action,
            job_dir=job_dir,
            cwd=launch.cwd,
            argv=_on_nodes(launch.argv, options.python),
            nproc=launch.nproc_per_node,
            nnodes=launch.nnodes,
            options=options,
            python=options.python or sys.executable,
            env=dict(launch.env),
            resume_keys=resume_keys,
            omp_from_allocation="OMP_NUM_THREADS" not in os.environ,
        )

    def submit(self, record: JobRecord, env: dict[str, str]) -> JobRecord:
        job_dir = self.store.job_dir(record.id)
        options = self.options(record.launch)
        resume = record.backend.ref.get("resume") or {"set": [], "clear": []}
        inputs = self._inputs(record.id, record.skill, record.action, job_dir, record.launch, options, resume["set"])
        scripts = render(inputs)
        inputs.batch_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(inputs.task_file, scripts.task)
        atomic_write_text(inputs.batch_file, scripts.batch)
        argv = ["sbatch", "--parsable", str(inputs.batch_file)]
        try:
            res = subprocess.run(argv, env=submit_env(env), cwd=record.launch.cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
            why = (res.stderr or res.stdout).strip() if res.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            res, why = None, f"{type(exc).__name__}: {exc}"
        slurm_id = res.stdout.strip().split(";")[0] if res is not None and res.returncode == 0 else ""
        if not slurm_id.isdigit():
            why = why or f"sbatch printed no job id: {res.stdout if res else ''!r}"
            self.store.move(record.id, JobState.ERROR, by="backend:slurm", error_class="LaunchError", error_message=why[-2000:])
            msg = f"sbatch refused job {record.id}: {why[-1500:]}"
            raise SkillrunError(msg, hint=f"check the slurm: section of your config file and {inputs.batch_file}", data={"job_id": record.id})
        ref = {"job_id": slurm_id, "script_file": str(inputs.batch_file), "task_file": str(inputs.task_file), "sbatch": argv, "resume": resume, "cluster": _cluster(env)}
        return self.store.update(record.id, lambda rec: rec.model_copy(update={"backend": rec.backend.model_copy(update={"ref": ref})}))

    # -- status

    def query(self, slurm_id: str) -> SlurmJob | None:
        """What Slurm knows about the job: squeue, then ``scontrol -o show job``, then sacct (where accounting runs)."""
        out = _ask(["squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%T|%r"])
        if out:
            state, _, reason = out.splitlines()[0].partition("|")
            job = SlurmJob(slurm_id, normalize(state), reason.strip())
            if not job.terminal:
                return job
        out = _ask(["scontrol", "-o", "show", "job", slurm_id])
        if out:
            fields = dict(w.split("=", 1) for w in out.split() if "=" in w)
            restarts = fields.get("Restarts", "")
            return SlurmJob(slurm_id, normalize(fields.get("JobState", "")), fields.get("Reason", ""), fields.get("ExitCode", ""), int(restarts) if restarts.isdigit() else None, "scontrol")
        out = _run(["sacct", "-n", "-P", "-X", "-j", slurm_id, "-o", "State,ExitCode"])
        if out:
            state, _, code = out.splitlines()[0].partition("|")
            return SlurmJob(slurm_id, normalize(state), exit_code=code.strip(), source="sacct")
        return None

    def status(self, record: JobRecord) -> JobRecord:
        if record.state.terminal:
            return record
        slurm_id = record.backend.ref.get("job_id")
        if not slurm_id:
            return record  # recorded, not submitted yet
        self._same_cluster(record)
        try:
            job = self.query(slurm_id)
        except _Unreachable:
            return record  # a busy or restarting controller says nothing about the job: ask again later
        record = self.store.load(record.id)  # the job may have recorded its end meanwhile
        if record.state.terminal:
            return record
        if job is None:
            why = f"Slurm no longer knows job {slurm_id} (squeue, scontrol and sacct have no record of it) and it recorded no end"
            return self.store.move(record.id, JobState.ERROR, by="reconcile", error_class="LostProcess", error_message=why)
        ours = job.ours
        if ours is JobState.PENDING and record.state is JobState.RUNNING:
            return self.store.move(record.id, JobState.PENDING, by="backend:slurm", note=f"requeued by Slurm ({job.state}, reason {job.reason or 'none'})", only_from={JobState.RUNNING})
        if ours is None or not ours.terminal:
            return record
        return self._ended(record, job)

    def _ended(self, record: JobRecord, job: SlurmJob) -> JobRecord:
        """Slurm says the job is over, and the job did not record its end: write what Slurm says."""
        if job.state == "CANCELLED" or record.backend.ref.get("cancel_requested"):
            return self.store.move(record.id, JobState.CANCELED, by="reconcile", note=f"canceled in Slurm (job {job.job_id}, {job.state})")
        why = job.explain()
        tail = _tail(self.store.job_dir(record.id) / "logs" / f"slurm-{job.job_id}.out")
        if tail and job.state in ("FAILED", "COMPLETED"):
            why += f"; the batch script printed: {tail}"
        cls = ERROR_CLASSES.get(job.state, f"Slurm{job.state.title().replace('_', '')}")
        return self.store.move(record.id, JobState.ERROR, by="reconcile", exit_code=job.exit_status, error_class=cls, error_message=why[-2000:])

    # -- cancel

    def cancel(self, record: JobRecord, grace: float = DEFAULT_GRACE_S) -> JobRecord:
        record = self.store.load(record.id)
        if record.state.terminal:
            return record
        slurm_id = record.backend.ref.get("job_id")
        if not slurm_id:
            return self.store.move(record.id, JobState.CANCELED, by="cancel", note="canceled before it reached Slurm")
        self._same_cluster(record)
        try:
            return self._cancel(record, slurm_id, grace)
        except _Unreachable as exc:
            msg = f"the Slurm controller did not answer while canceling {record.id} (Slurm job {slurm_id}): {exc}"
            raise SkillrunError(msg, hint=f"check `scontrol ping`, then run `skillrun cancel {record.id}` again") from None

    def _cancel(self, record: JobRecord, slurm_id: str, grace: float) -> JobRecord:
        job = self.query(slurm_id)
        if job is None or job.terminal:
            return self.status(record)  # it ended on its own before the cancel
        self.store.update(record.id, lambda rec: rec.with_ref(cancel_requested=True))
        if job.ours is not JobState.PENDING:  # running: SIGTERM to the job's steps (not the supervisor), the grace, then SIGKILL
            _ask(["scancel", "--signal=TERM", slurm_id])
            if not self._wait_gone(slurm_id, grace):
                _ask(["scancel", "--full", "--signal=KILL", slurm_id])
        _ask(["scancel", slurm_id])  # a pending job leaves the queue; a running one is ended for good
        if not self._wait_gone(slurm_id, _REAP_S):
            msg = f"Slurm job {slurm_id} of {record.id} is still running {_REAP_S:g} s after scancel"
            raise SkillrunError(msg, hint=f"check `squeue -j {slurm_id}`; the node may be unresponsive")
        return self.store.move(record.id, JobState.CANCELED, by="cancel", note=f"canceled by request (scancel {slurm_id})")

    def _wait_gone(self, slurm_id: str, seconds: float) -> bool:
        """Wait until Slurm reports the job ending (COMPLETING: its processes are stopped), ended or unknown.

        A controller that stops answering is asked again until the deadline; if it never
        answered again, that (``_Unreachable``) is the outcome, not "still running".
        """
        deadline = time.monotonic() + seconds
        while True:
            try:
                job = self.query(slurm_id)
            except _Unreachable:
                if time.monotonic() > deadline:
                    raise
            else:
                if job is None or job.terminal or job.state == "COMPLETING":
                    return True
                if time.monotonic() > deadline:
                    return False
            time.sleep(0.1)

    def _same_cluster(self, record: JobRecord) -> None:
        conf = record.backend.ref.get("cluster") or {}
        here = _cluster(os.environ)
        if conf.get("SLURM_CONF") and conf != here:
            msg = f"job {record.id} was submitted with SLURM_CONF={conf['SLURM_CONF']}, but this shell has SLURM_CONF={here.get('SLURM_CONF', '(unset)')}"
            raise BackendUnavailable(msg, hint=f"export SLURM_CONF={conf['SLURM_CONF']} and run the command again")


class _Unreachable(Exception):
    """The controller did not answer (timeout, connection failure): not the same as "no such job"."""


_NO_ANSWER = ("unable to contact slurm controller", "socket timed out", "connection refused", "connect failure", "communication connection failure")


#: pauses between asks when the controller does not answer (a restart, a burst of RPCs): a blip is not an outage
_ASK_AGAIN_S = (0.5, 1.0, 2.0)


def _ask(argv: list[str]) -> str:
    """Like :func:`_run`, but a controller that cannot be reached is asked again, then raises :class:`_Unreachable`.

    Otherwise a moment of load (or a controller restart) reads as "Slurm has no record of the
    job" and a live job would be marked lost, or a cancel's signal would be dropped.
    """
    for pause in (*_ASK_AGAIN_S, None):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise _Unreachable(f"{' '.join(argv)}: no answer in {_TIMEOUT_S} s") from exc  # already waited long enough
        except OSError:
            return ""
        if res.returncode == 0:
            return res.stdout.strip()
        if not any(m in res.stderr.lower() for m in _NO_ANSWER):
            return ""  # an answer: unknown job, no accounting
        if pause is None:
            raise _Unreachable(res.stderr.strip())
        time.sleep(pause)
    return ""  # not reached


def _run(argv: list[str]) -> str:
    """A Slurm command's stdout ("" when it failed: unknown job, no accounting, command missing)."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def _cluster(env: Any) -> dict[str, str]:
    """Which cluster the client talks to (only ``SLURM_CONF`` selects one besides the system default)."""
    return {"SLURM_CONF": env["SLURM_CONF"]} if env.get("SLURM_CONF") else {}


def _on_nodes(argv: list[str], python: str | None) -> list[str]:
    """The launch argv with this interpreter replaced by ``slurm.python`` (the nodes' one), when set."""
    return [python if python and w == sys.executable else w for w in argv]


def _tail(path: Path, limit: int = 600) -> str:
    from skillrun.record.secrets import Redactor

    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return Redactor().text(" ".join(text.split())[-limit:])
