"""The slurm backend without a cluster: rendered scripts, quoting, state mapping, config errors, plan.

The injection test runs the rendered batch and task scripts for real, with shims
for ``srun``, ``scontrol`` and the interpreter, so every value that could break
out of a quote is exercised by bash itself, not by a regex.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skillrun.backends.slurm.config import SlurmOptions
from skillrun.backends.slurm.script import ScriptInputs, render, sbatch_value
from skillrun.backends.slurm.states import SlurmJob, normalize
from skillrun.contracts.states import JobState
from skillrun.errors import UsageError
from tests.conftest import REPO

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"
HOSTILE = ['$(touch {m}/a)', '`touch {m}/b`', '"; touch {m}/c; echo "', "'; touch {m}/d; echo '", "x\ntouch {m}/e", "${{IFS}}touch${{IFS}}{m}/f", "a;b|c&d>e<f", "#not-a-comment", "%j %%"]


def _inputs(tmp: Path, nnodes: int = 2, nproc: int = 2, **kw: Any) -> ScriptInputs:
    base: dict[str, Any] = {
        "job_id": "scriptjob-succeed-abc123",
        "skill": "scriptjob",
        "action": "succeed",
        "job_dir": tmp / "jobs" / "scriptjob-succeed-abc123",
        "cwd": str(tmp),
        "argv": ["/bin/true"],
        "nproc": nproc,
        "nnodes": nnodes,
        "options": SlurmOptions(),
        "python": sys.executable,
    }
    return ScriptInputs(**{**base, **kw})


def _bash_n(text: str, tmp: Path) -> None:
    path = tmp / "check.sh"
    path.write_text(text)
    res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("nnodes", [1, 2])
def test_rendered_scripts_are_valid_bash_with_one_launcher_per_node(tmp_path: Path, nnodes: int) -> None:
    opts = SlurmOptions(partition="gpu", account="proj", time="04:00:00", gpus_per_node="auto", cpus_per_task=8, mem="64G", sbatch_lines=["--exclusive"])
    out = render(_inputs(tmp_path, nnodes=nnodes, options=opts))
    _bash_n(out.batch, tmp_path)
    _bash_n(out.task, tmp_path)
    lines = out.batch.splitlines()
    for want in ('#SBATCH --partition="gpu"', '#SBATCH --account="proj"', '#SBATCH --time="04:00:00"', "#SBATCH --gpus-per-node=2", "#SBATCH --cpus-per-task=8", '#SBATCH --mem="64G"', "#SBATCH --exclusive", f"#SBATCH --nodes={nnodes}", "#SBATCH --ntasks-per-node=1", "#SBATCH --requeue"):
        assert want in lines, f"{want!r} missing from\n{out.batch}"
    srun = next(line for line in lines if line.strip().startswith("srun "))
    assert f"--nodes={nnodes} --ntasks={nnodes}" in srun and "--kill-on-bad-exit=1" in srun and "--cpus-per-task=8" in srun
    # each node computes its own rank inside its task; the batch script never expands it
    assert "SLURM_NODEID" not in out.batch and "SLURM_PROCID" not in out.batch
    assert 'export NODE_RANK="${SLURM_NODEID:?' in out.task and 'export RANK="${RANK:-$NODE_RANK}"' in out.task
    if nnodes > 1:
        assert 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1' in out.batch
        assert "export MASTER_PORT=29500" in lines and 'export MASTER_ADDR="${head_addr:-$head_node}"' in lines
    else:
        assert "MASTER_ADDR" not in out.batch


def _shim(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_hostile_values_stay_data_when_the_scripts_run(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    words = [w.format(m=marks) for w in HOSTILE] + [f'"; rm -rf {tmp_path}/victim; "']
    # path parts cannot hold "/": their payloads act on the working folder, where "victim" lives
    cwd = tmp_path / "cwd `touch pwned_h` %j"
    cwd.mkdir()
    victim = cwd / "victim"
    victim.mkdir()
    (tmp_path / "victim").mkdir()
    job_dir = tmp_path / 'ws $(touch pwned_g) "; rm -rf victim; #' / "jobs" / "scriptjob-succeed-abc123"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    out_file = tmp_path / "argv.out"
    # the interpreter shim runs what follows "--" (srun ...); srun's shim runs the task once per node
    python = _shim(bin_dir / "python", 'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n')
    _shim(bin_dir / "srun", 'while [ "$1" != "bash" ]; do shift; done\nfor n in 0 1; do SLURM_NODEID=$n bash "$2" || exit 1; done\n')
    _shim(bin_dir / "scontrol", 'if [ "$2" = hostnames ]; then echo n1; echo n2; else echo "NodeName=n1 NodeAddr=127.0.0.9 State=IDLE"; fi\n')
    argv = ["/bin/sh", "-c", 'for w in "$@"; do printf "%s\\0" "$w"; done; printf "rank=%s addr=%s\\0" "$NODE_RANK" "$MASTER_ADDR"', "sh", *words]
    opts = SlurmOptions(env={"NOTE": words[0], "OTHER": words[2]})
    inputs = _inputs(tmp_path, nnodes=2, nproc=1, job_dir=job_dir, cwd=str(cwd), argv=argv, options=opts, python=str(python), env={"SKILLRUN_RESULTS_DIR": words[3]})
    out = render(inputs)
    inputs.task_file.parent.mkdir(parents=True)
    inputs.task_file.write_text(out.task)
    batch = tmp_path / "job.sbatch"
    batch.write_text(out.batch)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "n[1-2]", "HOME": str(tmp_path)}
    with open(out_file, "wb") as fh:
        res = subprocess.run(["bash", str(batch)], cwd=cwd, env=env, stdout=fh, stderr=subprocess.PIPE, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(os.listdir(marks)) == [] and not list(tmp_path.rglob("pwned_*")), "a hostile value was executed"
    assert victim.is_dir() and (tmp_path / "victim").is_dir()
    fields = out_file.read_bytes().split(b"\0")[:-1]
    per_node = len(words) + 1
    assert len(fields) == 2 * per_node
    for node in (0, 1):
        got = [f.decode() for f in fields[node * per_node : (node + 1) * per_node]]
        assert got[:-1] == words, "every argv word reaches the command unchanged"
        assert got[-1] == f"rank={node} addr=127.0.0.9"


def test_sbatch_values_are_quoted_for_sbatch_and_line_breaks_refused() -> None:
    assert sbatch_value('a b"c#d\\e') == '"a b\\"c\\#d\\\\e"'
    with pytest.raises(UsageError) as info:
        sbatch_value("two\nlines")
    assert "line break" in info.value.message


def test_slurm_states_map_onto_ours() -> None:
    assert normalize("CANCELLED by 0") == "CANCELLED" and normalize("COMPLETING+") == "COMPLETING"
    assert SlurmJob("1", "RUNNING").ours is JobState.RUNNING
    assert SlurmJob("1", "REQUEUED").ours is JobState.PENDING
    assert SlurmJob("1", "TIMEOUT").terminal and SlurmJob("1", "COMPLETED").terminal
    assert not SlurmJob("1", "COMPLETING").terminal and SlurmJob("1", "PREEMPTED").ours is None
    assert SlurmJob("1", "FAILED", exit_code="3:0").exit_status == 3
    assert SlurmJob("1", "CANCELLED", exit_code="0:15").exit_status == -15
    assert "time limit" in SlurmJob("7", "TIMEOUT", exit_code="0:15").explain()


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    monkeypatch.setenv("SKILLRUN_CONFIG", str(path))
    return path


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("slurm: {partiton: gpu}\n", ["slurm.partiton", "unknown key", "did you mean slurm.partition"]),
        ("slurm: {time: soon}\n", ["slurm.time", "'soon'"]),
        ("slurm: {partition: 'gpu; rm -rf /'}\n", ["slurm.partition", "'gpu; rm -rf /'"]),
        ("slurm: {env: {AWS_SECRET_ACCESS_KEY: x}}\n", ["slurm.env", "secret"]),
        ('slurm: {sbatch_lines: ["--exclusive\\n#SBATCH --x"]}\n', ["slurm.sbatch_lines", "one line"]),
        ("slurm: [1]\n", ["slurm must be a mapping"]),
    ],
)
def test_bad_config_is_exit_2_naming_the_key_and_nothing_is_written(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path, text: str, words: list[str]) -> None:
    path = _config(tmp_path, monkeypatch, text)
    res = cli("--skills-dir", SCRIPT_BANK, "run", "scriptjob", "succeed", "--backend", "slurm", "--json")
    assert res.code == 2, res.out + res.err
    doc = res.json()
    assert str(path) in doc["message"] and "Traceback" not in res.out + res.err
    for word in words:
        assert word in doc["message"], doc
    assert doc.get("hint")
    assert not (_isolated_home / "jobs").exists() or not any((_isolated_home / "jobs").iterdir())


def test_plan_shows_the_script_and_the_requeue_keys_without_a_cluster(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdg: Any) -> None:
    _config(tmp_path, monkeypatch, "slurm:\n  partition: debug\n  gpus_per_node: auto\n  sbatch_lines: [--exclusive]\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here: plan still works
    tr, va = sdg.splits["train"], sdg.splits["val"]
    args = [
        "plan", "rtdetr", "train", "--automl", "off", "--backend", "slurm", "train.num_nodes=2", "train.num_gpus=2", "train.gpu_ids=[0,1]", "dataset.batch_size=1",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
    ]  # fmt: skip
    res = cli(*args, "--json")
    assert res.code == 0, res.out
    doc = res.json()
    argv = doc["launch"]["argv"]
    assert argv[argv.index("--node-rank") + 1] == "${NODE_RANK}" and argv[argv.index("--nnodes") + 1] == "2"
    plan = doc["backend_plan"]
    assert plan["template"] == "multi_node.sh.j2" and '#SBATCH --partition="debug"' in plan["script"]
    assert "#SBATCH --gpus-per-node=2" in plan["script"] and "#SBATCH --exclusive" in plan["script"]
    assert plan["resume"] == {"set": ["train.resume_training_checkpoint_path"], "clear": ["model.pretrained_backbone_path", "train.pretrained_model_path"]}
    text = cli(*args)
    assert text.code == 0 and "sbatch script (" in text.out and '--node-rank "${NODE_RANK}"' in text.out
    run = cli(*[a if a != "plan" else "run" for a in args], "--json")
    assert run.code == 4 and "sbatch" in run.json()["message"]


def test_several_nodes_still_refused_by_local_but_planned_by_slurm(cli: Any) -> None:
    res = cli("--skills-dir", SCRIPT_BANK, "plan", "scriptjob", "dist", "dist.num_nodes=2", "--backend", "slurm", "--json")
    assert res.code == 0, res.out
    assert json.loads(res.out)["resources"]["nnodes"] == 2
