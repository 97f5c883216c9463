"""Render the sbatch script and the per-node task script from the Jinja2 templates in ``templates/``.

Nothing reaches a script unfiltered: shell words go through ``q`` (shlex.quote),
``#SBATCH`` values through ``sbatch`` (sbatch's own quoting: it does not run a
shell on them, but splits on blanks, ends at ``#`` and reads ``"`` and ``\\``),
comments through ``comment``, variable names through ``name``. The templates are
rendered with StrictUndefined, so a missing value is an error, never an empty
string. A value that no quoting can carry (a newline in an ``#SBATCH`` line) is a
UsageError at plan time, before anything is written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from skillrun.backends.slurm.config import SlurmOptions
from skillrun.errors import UsageError

TEMPLATES = Path(__file__).parent / "templates"
#: argv words a launcher fills in per node (multi-node torchrun); rendered as "${NAME}", expanded in the task
PER_NODE = {"${NODE_RANK}", "${MASTER_ADDR}", "${MASTER_PORT}"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ScriptInputs:
    """Everything a job's scripts are made of; all of it is data, none of it is trusted."""

    job_id: str
    skill: str
    action: str
    job_dir: Path
    cwd: str
    argv: list[str]
    nproc: int
    nnodes: int
    options: SlurmOptions
    python: str
    env: dict[str, str] = field(default_factory=dict)
    resume_keys: list[str] = field(default_factory=list)
    omp_from_allocation: bool = False

    @property
    def batch_file(self) -> Path:
        return self.job_dir / "slurm" / "job.sbatch"

    @property
    def task_file(self) -> Path:
        return self.job_dir / "slurm" / "task.sh"

    @property
    def template(self) -> str:
        return "multi_node.sh.j2" if self.nnodes > 1 else "single_node.sh.j2"


@dataclass(frozen=True)
class Rendered:
    batch: str
    task: str


def render(inputs: ScriptInputs) -> Rendered:
    """The batch script (single or multi node template) and the task script srun runs on each node."""
    o = inputs.options
    values: dict[str, Any] = {
        "job_id": inputs.job_id,
        "skill": inputs.skill,
        "action": inputs.action,
        "template": inputs.template,
        "nnodes": _int(inputs.nnodes),
        "nproc": _int(inputs.nproc),
        "gpus": _int(o.gpus(inputs.nproc)) if o.gpus(inputs.nproc) else None,
        "o": o,
        "env": sorted({**inputs.env, **o.env}.items()),
        "cwd": inputs.cwd,
        "log_dir": str(inputs.job_dir / "logs"),
        "job_dir": str(inputs.job_dir),
        "task_file": str(inputs.task_file),
        "python": inputs.python,
        "resume_keys": inputs.resume_keys,
        "argv": inputs.argv,
        "omp": inputs.omp_from_allocation and inputs.nproc > 1,
    }
    env = _environment()
    batch = env.get_template(inputs.template).render(values)
    task = env.get_template("task.sh.j2").render(values)
    return Rendered(batch, task)


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - shell, not HTML: every value passes a shell filter instead
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(q=shell_word, sbatch=sbatch_value, sbatch_file=sbatch_file, comment=comment, name=env_name, words=argv_words)
    return env


def shell_word(value: Any) -> str:
    """One shell word, whatever ``value`` holds (``$(...)``, quotes, ``;``, newlines)."""
    return shlex.quote(str(value))


def argv_words(argv: list[str]) -> str:
    """A command line of quoted words; the per-node placeholders become double-quoted expansions."""
    return " ".join(f'"{w}"' if w in PER_NODE else shell_word(w) for w in argv)


def sbatch_value(value: Any) -> str:
    """A value for an ``#SBATCH`` line, in sbatch's own quoting (no shell reads it)."""
    text = str(value)
    if any(c in text for c in "\n\r\0"):
        msg = f"{text!r} cannot go into an #SBATCH line: it contains a line break"
        raise UsageError(msg, hint="use a workspace, working directory and config values without line breaks")
    return '"' + re.sub(r'(["\\#])', r"\\\1", text) + '"'


def sbatch_file(folder: Any) -> str:
    """``--output`` for a folder: ``%`` doubled (sbatch reads ``%j`` and friends in file names), then ``slurm-%j.out``."""
    quoted = sbatch_value(str(folder).replace("%", "%%") + "/slurm-%j.out")
    return quoted


def comment(value: Any) -> str:
    """Text for a ``#`` comment: control characters (a newline would end the comment) become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", str(value))


def env_name(value: Any) -> str:
    text = str(value)
    if not _NAME.match(text):
        msg = f"{text!r} is not an environment variable name"
        raise UsageError(msg, hint="names are letters, digits and _, not starting with a digit")
    return text


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected a whole number, got {value!r}"
        raise UsageError(msg)
    return value
