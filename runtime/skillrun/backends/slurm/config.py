"""``slurm:`` in the user config file: the cluster defaults every sbatch script gets.

Everything here ends up in a shell script, so each value is checked against a
narrow pattern first (a partition is a word, a time is a Slurm time) and then
quoted when rendered: the check gives a readable error, the quoting makes a
missed case harmless.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from skillrun.record.secrets import is_secret_name

_WORD = r"^[A-Za-z0-9_.,:@+=-]+$"
_TIME = r"^(UNLIMITED|INFINITE|\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2})$"
_MEM = r"^\d+[KMGT]?$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SlurmOptions(BaseModel):
    """Cluster defaults for ``--backend slurm`` (all optional: an empty section uses the cluster's own defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = Field(default=None, pattern=_WORD, description="--partition, e.g. gpu")
    account: str | None = Field(default=None, pattern=_WORD, description="--account to charge")
    qos: str | None = Field(default=None, pattern=_WORD, description="--qos")
    time: str | None = Field(default=None, pattern=_TIME, description='--time limit, e.g. "04:00:00" or "1-00:00:00"')
    gpus_per_node: int | Literal["auto"] | None = Field(
        default=None, description="--gpus-per-node: a number, 'auto' (one per process, train.num_gpus), or null on a CPU-only cluster"
    )
    cpus_per_task: int | None = Field(default=None, ge=1, description="CPUs of the one launcher task on each node (--cpus-per-task)")
    mem: str | None = Field(default=None, pattern=_MEM, description="--mem per node, e.g. 64G (else the cluster's DefMemPerCPU)")
    master_port: int = Field(default=29500, ge=1024, le=65535, description="the rendezvous port on the first node (MASTER_PORT)")
    requeue: bool = Field(default=True, description="--requeue: a preempted or failed-node job starts again from its newest checkpoint")
    python: str | None = Field(default=None, description="the Python interpreter on the compute nodes (default: the one running skillrun)")
    sbatch_lines: list[str] = Field(default_factory=list, description="extra '#SBATCH' lines, verbatim, e.g. --constraint=a100")
    env: dict[str, str] = Field(default_factory=dict, description="variables exported by the script (never secrets: those pass through the environment)")

    @field_validator("sbatch_lines")
    @classmethod
    def _one_option_per_line(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if not line.startswith("-") or any(c in line for c in "\n\r\0"):
                msg = f"{line!r} must be one sbatch option on one line, starting with '-' (e.g. --constraint=a100)"
                raise ValueError(msg)
        return lines

    @field_validator("env")
    @classmethod
    def _plain_names_no_secrets(cls, env: dict[str, str]) -> dict[str, str]:
        import re

        for name in env:
            if not re.match(_ENV_NAME, name):
                msg = f"{name!r} is not a variable name"
                raise ValueError(msg)
            if is_secret_name(name):
                msg = f"{name} looks like a secret; the script is written to disk, so export it in your shell instead (sbatch passes the environment on)"
                raise ValueError(msg)
        return env

    @field_validator("python")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        if path is not None and (not path.startswith("/") or "\n" in path):
            msg = "must be an absolute path to a python on the compute nodes"
            raise ValueError(msg)
        return path

    def gpus(self, nproc: int) -> int | None:
        """The --gpus-per-node value for ``nproc`` processes per node (None: ask for no GPU)."""
        return nproc if self.gpus_per_node == "auto" else self.gpus_per_node
