"""Submitting from inside a Slurm allocation, and the AutoML study coordinator's own (small) request.

An AutoML study on Slurm is one Slurm job (``python -m skillrun.automl``) that
sbatch-es each trial from inside its allocation; people also start jobs from an
interactive ``salloc``/``srun`` shell. Two things go wrong there unless handled:

- **Inherited job variables.** sbatch passes the environment on (``--export=ALL``,
  needed for secrets), and Slurm only overwrites the variables the *new* job
  defines. The submitting allocation's ``SLURM_MEM_PER_CPU`` next to a trial's
  ``SLURM_MEM_PER_NODE`` makes the trial's ``srun`` die ("mutually exclusive");
  its ``SLURM_STEP_*``, ``SLURM_CPU_BIND``, ``SLURM_DISTRIBUTION`` or
  ``SLURM_RESTART_COUNT`` (a requeued coordinator) would steer or mislabel the
  trial. :func:`submit_env` drops every variable Slurm sets for a job or step,
  keeping only the client's own settings (``SLURM_CONF`` and friends).
- **A coordinator holding trial resources.** The coordinator only asks Optuna and
  polls files, but with the trials' ``slurm:`` defaults it would hold GPUs, a
  node's CPUs or its memory for the whole study, and on a small cluster (or
  under a GPU quota) the trials it waits for could never start.
  :func:`coordinator_options` asks for one CPU, no GPU and at most
  :data:`COORDINATOR_MEM` instead.
"""

from __future__ import annotations

import re
from typing import Mapping

from skillrun.backends.slurm.config import SlurmOptions

COORDINATOR_MODULE = "skillrun.automl"
#: memory the coordinator asks for when the config asks for memory at all (it needs a few hundred MB at most)
COORDINATOR_MEM = "2G"
#: Slurm client settings that are the user's, not the allocation's: they pass on unchanged
CLIENT_VARIABLES = frozenset({"SLURM_CONF", "SLURM_CLUSTERS", "SLURM_TIME_FORMAT", "SLURM_DEBUG_FLAGS", "SLURM_EXIT_ERROR", "SLURM_EXIT_IMMEDIATE"})
_ALLOCATION = re.compile(r"^(SLURM_|SLURMD_|SRUN_)")
#: sbatch_lines that request resources (GPUs, CPUs, memory, a whole node): not for the coordinator
_RESOURCE_LINE = re.compile(r"^(--(gres|gpus|gpus-per-\w+|cpus-per-\w+|mem|mem-per-\w+|exclusive|tres-per-\w+|ntasks|ntasks-per-\w+|nodes)\b|-[GcnN]\b|-[GcnN]\d)")
_MEMORY_LINE = re.compile(r"^--mem(-per-\w+)?\b")


def inside_allocation(env: Mapping[str, str]) -> bool:
    return bool(env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID"))


def submit_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for sbatch: outside an allocation unchanged; inside one, without the allocation's job/step variables."""
    if not inside_allocation(env):
        return dict(env)
    return {k: v for k, v in env.items() if k in CLIENT_VARIABLES or not _ALLOCATION.match(k)}


def is_coordinator(argv: list[str]) -> bool:
    """The launch of an AutoML study (``python -m skillrun.automl JOB_DIR``), not of a training."""
    return len(argv) >= 3 and argv[1:3] == ["-m", COORDINATOR_MODULE]


def coordinator_options(options: SlurmOptions) -> SlurmOptions:
    """The ``slurm:`` defaults for a study coordinator: same partition, account, QOS, time; one CPU, no GPU, little memory."""
    lines = [line for line in options.sbatch_lines if not _RESOURCE_LINE.match(line)]
    asks_memory = options.mem is not None or any(_MEMORY_LINE.match(line) for line in options.sbatch_lines)
    mem = _smaller(options.mem, COORDINATOR_MEM) if options.mem else (COORDINATOR_MEM if asks_memory else None)
    return options.model_copy(update={"gpus_per_node": None, "cpus_per_task": None, "mem": mem, "sbatch_lines": lines})


def _smaller(a: str, b: str) -> str:
    return a if _mb(a) <= _mb(b) else b


def _mb(mem: str) -> float:
    """A Slurm memory size (``\\d+[KMGT]?``, megabytes without a unit) in megabytes."""
    unit = mem[-1] if mem[-1].isalpha() else "M"
    number = float(mem[:-1] if mem[-1].isalpha() else mem)
    return number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit.upper()]
