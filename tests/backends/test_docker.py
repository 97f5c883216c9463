"""The ``docker`` backend and the ``tao`` engine, with the TAO-format fixture skill ``tao-train-boxnet``.

The fixture is a bank root laid out as NVIDIA publishes the TAO skill bank
(``tests/fixtures/tao_bank/skills/models/tao-train-boxnet``, a fictional network):
train and evaluate run in the PyTorch image with the fallback tags of
``references/container_versions.yaml``; the deploy sub-skill's ``gen_trt_engine``
and ``deploy_evaluate`` run in the deploy image its ``container_image:
tao_toolkit.deploy`` names, resolved through the bank's ``versions.yaml``.

No Docker engine runs on the machines these tests were written on, so:

- the container configuration is checked exactly: every keyword argument that reaches
  ``client.containers.run``. For that one purpose -- capturing those arguments -- the
  tests swap ``docker.from_env`` for a FAKE CLIENT OBJECT (``_FakeClient``). Nothing else
  here is faked: plan, record, supervisor, tag rule and lineage are the real code;
- a live test runs a real container where ``docker info`` succeeds, and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

import skillrun
from skillrun.backends import docker_runner
from skillrun.backends.docker import DockerBackend
from skillrun.contracts.job import JobState
from skillrun.errors import BankError, UsageError
from tests.conftest import REPO, TAO_BANK, run_skillrun

docker = pytest.importorskip("docker")

SKILL = "tao-train-boxnet"
SKILL_DIR = TAO_BANK / "skills" / "models" / SKILL
FIRST, FALLBACK = "nvcr.io/nvidia/tao/tao-toolkit:6.25.11-pyt", "nvcr.io/nvidia/tao/tao-toolkit:6.25.10-pyt"
DEPLOY = "nvcr.io/nvidia/tao/tao-toolkit:6.25.11-deploy"  #: images.tao_toolkit.deploy of the fixture's versions.yaml
SECRET = "ngc-s3cr3t-token-42"
MISMATCH = "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.9, please update your driver"


class _FakeContainer:
    """What containers.run returns: it 'trains' (writes the results contract) while its logs are read."""

    def __init__(self, kwargs: dict[str, Any], code: int, output: bytes) -> None:
        self.kwargs, self.code, self.output = kwargs, code, output
        self.id, self.short_id, self.labels, self.status = "c0ffee" * 4, "c0ffee", kwargs["labels"], "exited"

    def logs(self, stream: bool, follow: bool) -> Iterator[bytes]:
        results = Path(self.kwargs["environment"]["SKILLRUN_RESULTS_DIR"]) / self.kwargs["labels"]["skillrun.action"]
        results.mkdir(parents=True, exist_ok=True)
        if self.code == 0:
            (results / "model_epoch_000.pth").write_bytes(b"not a real checkpoint")
            event = {"status": "RUNNING", "epoch": 0, "max_epoch": 1, "kpi": {"val_mAP": 0.25}}
            (results / "status.json").write_text(json.dumps(event) + "\n" + json.dumps({"status": "SUCCESS"}) + "\n")
        yield self.output[:7]
        yield self.output[7:]

    def wait(self) -> dict[str, int]:
        return {"StatusCode": self.code}


class _FakeClient:
    """ONLY captures the keyword arguments of containers.run; ``outcomes`` says how each call goes."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes, self.calls = list(outcomes), []
        self.containers = self

    def run(self, **kwargs: Any) -> _FakeContainer:
        self.calls.append(kwargs)
        outcome = self.outcomes.pop(0)
        if outcome == "mismatch-at-start":
            raise docker.errors.APIError(f"500 Server Error: OCI runtime create failed: {MISMATCH}")
        if outcome == "mismatch-at-run":
            return _FakeContainer(kwargs, 1, b"RuntimeError: CUDA driver version is insufficient for CUDA runtime version\n")
        token = kwargs["environment"].get("MY_NGC_TOKEN", "")
        return _FakeContainer(kwargs, 0, f"epoch 0 token={token}\ndone\n".encode())

    def get(self, name: str) -> Any:
        raise docker.errors.NotFound(name)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_FakeClient]:
    """The docker backend with its supervisor run in-process against a fake client (no daemon here)."""
    client = _FakeClient([])
    monkeypatch.setattr(docker, "from_env", lambda *a, **k: client)
    monkeypatch.setattr(DockerBackend, "preflight", lambda self: None)
    monkeypatch.setattr(DockerBackend, "submit", lambda self, record, env: (docker_runner._supervise(self.store, record), self.store.load(record.id))[1])
    config = tmp_path / "config.yaml"
    config.write_text("docker:\n  pass_env: [MY_NGC_TOKEN, SKILLRUN_KEY]\n")
    monkeypatch.setenv("SKILLRUN_CONFIG", str(config))
    monkeypatch.setenv("MY_NGC_TOKEN", SECRET)
    yield client


@pytest.fixture(scope="module")
def tao_bank() -> Any:
    return skillrun.load_bank([TAO_BANK], plugins=False)


def _sources(sdg: Any, action: str = "train") -> list[str]:
    tr, va = sdg.splits["train"], sdg.splits["val"]
    if action == "evaluate":
        return [f"dataset.test_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}", "dataset.num_classes=3"]
    return [f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]", f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}", "dataset.num_classes=3"]


def test_the_container_run_is_exactly_seed_000s(fake: _FakeClient, tao_bank: Any, sdg: Any) -> None:
    fake.outcomes = ["ok"]
    job = skillrun.run(SKILL, "train", overrides=_sources(sdg), backend="docker", automl="off", bank=tao_bank, wait=False)
    rec = job.refresh()
    assert rec.state is JobState.COMPLETE, f"{rec.error_class}: {rec.error_message}"
    job_dir = job.store.job_dir(job.id)
    tr, va = sdg.splits["train"], sdg.splits["val"]
    from docker.types import DeviceRequest, Ulimit

    assert fake.calls == [
        {
            "image": FIRST,
            "command": ["boxnet", "train", "-e", str(job_dir / "spec.yaml")],
            "name": f"skillrun-{job.id}",
            "detach": True,
            "labels": {"skillrun.job_id": job.id, "skillrun.skill": SKILL, "skillrun.action": "train"},
            "shm_size": "16g",
            "ulimits": [Ulimit(name="memlock", soft=-1, hard=-1), Ulimit(name="stack", soft=67108864, hard=67108864)],
            "volumes": {
                str(job_dir): {"bind": str(job_dir), "mode": "rw"},
                str(Path(tr.json_file).parent): {"bind": str(Path(tr.json_file).parent), "mode": "ro"},
                str(Path(va.json_file).parent): {"bind": str(Path(va.json_file).parent), "mode": "ro"},
            },
            "working_dir": str(job_dir),
            "device_requests": [DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])],
            "user": f"{os.getuid()}:{os.getgid()}",
            "environment": {"MY_NGC_TOKEN": SECRET, **rec.launch.env},
        }
    ]
    assert rec.backend.ref["image"] == FIRST and rec.backend.ref["image_tried"] == [{"image": FIRST, "outcome": "exit 0"}]
    assert rec.metrics["val_mAP"] == 0.25 and (job_dir / "spec.yaml").is_file()
    # the secret reached the container's environment only: masked in the log, absent from every file written
    assert "token=***" in job.log_text()
    for path in job_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("when", ["mismatch-at-start", "mismatch-at-run"])
def test_a_driver_mismatch_falls_back_to_the_other_tag_and_the_lineage_keeps_it(fake: _FakeClient, tao_bank: Any, sdg: Any, when: str) -> None:
    fake.outcomes = [when, "ok"]
    train = skillrun.run(SKILL, "train", overrides=_sources(sdg), backend="docker", automl="off", bank=tao_bank, wait=False).refresh()
    assert train.state is JobState.COMPLETE, f"{train.error_class}: {train.error_message}"
    assert [c["image"] for c in fake.calls] == [FIRST, FALLBACK]
    assert train.backend.ref["image"] == FALLBACK and train.backend.ref["image_candidates"] == [FIRST, FALLBACK]
    tried = train.backend.ref["image_tried"]
    assert [t["image"] for t in tried] == [FIRST, FALLBACK] and ("did not start" in tried[0]["outcome"] or "mismatch" in tried[0]["outcome"])
    log = skillrun.job(train.id).log_text()
    assert f"falling back to {FALLBACK}" in log
    # evaluate of that lineage keeps the tag that ran: no second try of the first one
    plan = skillrun.plan(SKILL, "evaluate", overrides=_sources(sdg, "evaluate"), parent=train.id, backend="docker", bank=tao_bank).backend_plan
    assert plan["image_candidates"] == [FALLBACK] and plan["lineage"] == train.id
    ckpt_dir = str(Path(train.results_dir) / "train")
    assert plan["config"]["volumes"][ckpt_dir] == {"bind": ckpt_dir, "mode": "ro"}
    fake.outcomes = ["ok"]
    ev = skillrun.run(SKILL, "evaluate", overrides=_sources(sdg, "evaluate"), parent=train.id, backend="docker", bank=tao_bank, wait=False).refresh()
    assert ev.state is JobState.COMPLETE and fake.calls[-1]["image"] == FALLBACK
    assert fake.calls[-1]["command"][:2] == ["boxnet", "evaluate"]


def test_a_mismatch_on_the_last_tag_is_a_launch_error(fake: _FakeClient, tao_bank: Any, sdg: Any) -> None:
    fake.outcomes = ["mismatch-at-start", "mismatch-at-start"]
    rec = skillrun.run(SKILL, "train", overrides=_sources(sdg), backend="docker", automl="off", bank=tao_bank, wait=False).refresh()
    assert rec.state is JobState.ERROR and rec.error_class == "LaunchError" and "unsatisfied condition" in (rec.error_message or "")
    assert [t["image"] for t in rec.backend.ref["image_tried"]] == [FIRST, FALLBACK]


def test_tao_skill_folder_is_listed_validated_and_planned_end_to_end(sdg: Any, tmp_path: Path) -> None:
    env = {"SKILLRUN_PATH": str(TAO_BANK), "SKILLRUN_HOME": str(tmp_path / "home")}
    listed = run_skillrun("list", "--json", env=env)
    assert listed.code == 0 and SKILL in {s["name"] for s in listed.json()["skills"]}
    valid = run_skillrun("validate", SKILL, "train", *_sources(sdg), "--json", env=env)
    assert valid.code == 0 and valid.json()["ok"], valid.out
    args = ["plan", SKILL, "train", "--backend", "docker", "--automl", "off", *_sources(sdg)]
    doc = run_skillrun(*args, "--json", env=env)
    assert doc.code == 0, doc.out + doc.err
    plan = doc.json()["backend_plan"]
    assert plan["image"] == FIRST and plan["image_candidates"] == [FIRST, FALLBACK]
    line = plan["docker_run"]
    for part in ("docker run -d", "--gpus all", "--shm-size=16g", "--ulimit memlock=-1", "--ulimit stack=67108864", f"--user {os.getuid()}:{os.getgid()}", f"{FIRST} boxnet train -e "):
        assert part in line, line
    text = run_skillrun(*args, env=env)
    assert text.code == 0 and "container run (image " + FIRST in text.out and line in text.out
    assert not (tmp_path / "home" / "jobs").exists(), "plan wrote something"


def test_tao_engine_command_and_placeholders(tao_bank: Any, tmp_path: Path) -> None:
    from skillrun.engine.base import EngineContext
    from skillrun.engine.tao import TaoEngine

    skill = tao_bank.get(SKILL)
    cmd = TaoEngine().command(EngineContext(skill, "evaluate", tmp_path / "spec.yaml", tmp_path / "results", "tao-train-boxnet-evaluate-abc123"))
    assert cmd.argv() == ["boxnet", "evaluate", "-e", str(tmp_path / "spec.yaml")]  # TAO writes {config_path}: no second -e
    trt = TaoEngine().command(EngineContext(skill, "gen_trt_engine", tmp_path / "spec.yaml", tmp_path / "results", "tao-train-boxnet-gen_trt_engine-abc123"))
    assert trt.argv() == ["boxnet", "gen_trt_engine", "-e", str(tmp_path / "spec.yaml")]
    broken = tmp_path / "bank" / SKILL
    shutil.copytree(SKILL_DIR, broken)
    info = broken / "references" / "skill_info.yaml"
    text = info.read_text()
    assert "command: boxnet train -e {config_path}" in text
    info.write_text(text.replace("command: boxnet train -e {config_path}", "command: boxnet train -e {spec_file}"))
    with pytest.raises(BankError) as err:
        TaoEngine().check(skillrun.load_bank([broken.parent], plugins=False).get(SKILL), "train")
    assert "{spec_file}" in err.value.message and "{config_path}" in (err.value.hint or "")


def test_the_deploy_image_comes_from_the_banks_versions_yaml() -> None:
    import yaml

    table = yaml.safe_load((TAO_BANK / "versions.yaml").read_text())["images"]["tao_toolkit"]
    assert (table["deploy"], table["pyt"]) == (DEPLOY, FIRST)
    sub = yaml.safe_load((SKILL_DIR / "references" / "tao-deploy-boxnet.skill_info.yaml").read_text())
    assert sub["container_image"] == "tao_toolkit.deploy"  # a versions key, not an image: it must be resolved to plan


@pytest.mark.parametrize(("action", "command", "overrides"), [
    ("gen_trt_engine", ["boxnet", "gen_trt_engine"], ["gen_trt_engine.onnx_file=/models/boxnet.onnx"]),
    ("deploy_evaluate", ["boxnet", "evaluate"], ["evaluate.trt_engine=/models/boxnet.engine"]),
])
def test_tensorrt_actions_plan_and_run_in_the_deploy_image(fake: _FakeClient, tao_bank: Any, action: str, command: list[str], overrides: list[str]) -> None:
    """The action's own image (the deploy sub-skill's) is taken first, and alone: the PyTorch fallback tags are not its."""
    info = tao_bank.get(SKILL).info
    assert info.actions[action].container_image == DEPLOY and info.container_image == FIRST
    plan = skillrun.plan(SKILL, action, overrides=overrides, backend="docker", check_data=False, bank=tao_bank).backend_plan
    assert plan["image"] == DEPLOY and plan["image_candidates"] == [DEPLOY] and plan["lineage"] is None
    assert f"{DEPLOY} {' '.join(command)} -e " in plan["docker_run"] and FIRST not in plan["docker_run"]
    fake.outcomes = ["ok"]
    job = skillrun.run(SKILL, action, overrides=overrides, backend="docker", check_data=False, bank=tao_bank, wait=False)
    rec = job.refresh()
    assert rec.state is JobState.COMPLETE, f"{rec.error_class}: {rec.error_message}"
    assert [c["image"] for c in fake.calls] == [DEPLOY]
    assert fake.calls[0]["command"] == [*command, "-e", str(job.store.job_dir(job.id) / "spec.yaml")]
    assert fake.calls[0]["labels"]["skillrun.action"] == action
    assert rec.backend.ref["image"] == DEPLOY and rec.backend.ref["image_tried"] == [{"image": DEPLOY, "outcome": "exit 0"}]


def test_a_tensorrt_action_in_a_pytorch_lineage_still_runs_in_the_deploy_image(fake: _FakeClient, tao_bank: Any, sdg: Any) -> None:
    fake.outcomes = ["ok"]
    train = skillrun.run(SKILL, "train", overrides=_sources(sdg), backend="docker", automl="off", bank=tao_bank, wait=False).refresh()
    assert train.state is JobState.COMPLETE and train.backend.ref["image"] == FIRST
    plan = skillrun.plan(SKILL, "deploy_evaluate", parent=train.id, backend="docker", check_data=False, bank=tao_bank)
    assert plan.spec["evaluate"]["trt_engine"].startswith(str(Path(train.results_dir)))  # the lineage is real: parent_model resolved
    assert plan.backend_plan["image_candidates"] == [DEPLOY]


def test_docker_backend_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="engine: tao"):
        skillrun.plan("scriptjob", "succeed", backend="docker", bank=skillrun.load_bank([REPO / "tests" / "fixtures" / "script_bank"], plugins=False))
    from skillrun.contracts.job import Launch
    from skillrun.record.store import JobStore

    with pytest.raises(UsageError, match="2 nodes"):
        DockerBackend(JobStore(tmp_path)).check(Launch(argv=["boxnet", "train"], cwd="/", nnodes=2))


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _docker_works(), reason="`docker info` fails here: no Docker engine to run a real container")
def test_live_container_runs_and_writes_the_results_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skill = tmp_path / "bank" / "tao-live"
    shutil.copytree(SKILL_DIR, skill)
    info = skill / "references" / "skill_info.yaml"
    text = info.read_text()
    for line in ("name: tao-train-boxnet", f"container_image: {FIRST}", "command: boxnet evaluate -e {config_path}"):
        assert text.count(line) == 1, line  # the TAO-format lines this test rewrites
    text = text.replace("name: tao-train-boxnet", "name: tao-live").replace(f"container_image: {FIRST}", "container_image: busybox:stable")
    script = "mkdir -p {results_dir}/evaluate && test -s {config_path} && echo '{\"status\": \"SUCCESS\"}' > {results_dir}/evaluate/status.json && echo live-ok"
    info.write_text(text.replace("command: boxnet evaluate -e {config_path}", f"command: [sh, -c, {json.dumps(script)}]"))
    (skill / "references" / "container_versions.yaml").unlink()
    (skill / "references" / "tao-deploy-boxnet.skill_info.yaml").unlink()  # its deploy image key resolves nowhere outside the bank
    (skill / "SKILL.md").write_text((skill / "SKILL.md").read_text().replace("name: tao-train-boxnet", "name: tao-live"))
    config = tmp_path / "config.yaml"
    config.write_text("docker:\n  gpus: null\n")
    monkeypatch.setenv("SKILLRUN_CONFIG", str(config))
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"x")
    data = tmp_path / "val"
    data.mkdir()
    job = skillrun.run("tao-live", "evaluate", overrides=[f"evaluate.checkpoint={ckpt}", f"dataset.test_data_sources={{image_dir: {data}, json_file: {data}/a.json}}"], backend="docker", check_data=False, bank=skillrun.load_bank([skill.parent], plugins=False), wait=False)
    rec = job.wait(300).record
    assert rec.state is JobState.COMPLETE, f"{rec.error_class}: {rec.error_message}\n{job.log_text()[-2000:]}"
    assert "live-ok" in job.log_text() and rec.backend.ref["image"] == "busybox:stable"
    box = docker.from_env().containers.get(rec.backend.ref["container_id"])
    assert box.labels["skillrun.job_id"] == job.id and box.attrs["HostConfig"]["ShmSize"] == 16 * 1024**3
    box.remove(force=True)
