"""The spec_params resolvers, one at a time, then through plan() and a few real (script) jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import skillrun
from skillrun.contracts.job import JobRecord, JobState
from skillrun.errors import ResolutionError, UsageError
from skillrun.record.secrets import KEY_ENV, KEY_PLACEHOLDER
from skillrun.record.store import JobStore
from skillrun.resolve import params
from skillrun.resolve.params import ResolveContext, resolve_spec_params
from skillrun.resolve.parents import ParentArtifact, resolve_parent
from tests.conftest import REPO, seed_train_overrides
from tests.resolve.test_parents import action_dir, make_job, write_best_rec, write_checkpoints, write_onnx, zip_bytes

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"


@pytest.fixture(scope="session")
def script_bank() -> Any:
    return skillrun.load_bank([SCRIPT_BANK], plugins=False)


def ctx(
    bank: Any,
    action: str,
    tmp_path: Path,
    spec: dict[str, Any] | None = None,
    *,
    user: tuple[str, ...] = (),
    skill: str = "rtdetr",
    parent: ParentArtifact | None = None,
    resume: bool = False,
    key: str | None = None,
) -> ResolveContext:
    """A context for ``skill action``; keys in ``user`` count as set by an override, the rest came from the template."""
    spec = spec or {}
    provenance = {k: ("override" if k in user else "template") for k in _leaves(spec)}
    return ResolveContext(bank.get(skill), action, tmp_path / "job" / "results", spec, provenance, parent=parent, resume=resume, key=key)


def _leaves(spec: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in spec.items():
        out += _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


# -- output_dir ---------------------------------------------------------------------------------


def test_output_dir_is_always_the_job_results_dir(bank: Any, tmp_path: Path) -> None:
    c = ctx(bank, "evaluate", tmp_path, {"results_dir": "???"})
    r = params.output_dir(c, "results_dir")
    assert r.value == str(c.results_dir) and r.note is None

    c = ctx(bank, "evaluate", tmp_path, {"results_dir": "/elsewhere/out"}, user=("results_dir",))
    r = params.output_dir(c, "results_dir")
    assert r.value == str(c.results_dir)
    assert r.note is not None and "/elsewhere/out" in r.note

    c = ctx(bank, "evaluate", tmp_path, {"results_dir": str(tmp_path / "job" / "results")}, user=("results_dir",))
    assert params.output_dir(c, "results_dir").note is None


# -- parent_model / parent_model_folder -----------------------------------------------------------


def test_parent_model_takes_the_parent_checkpoint(bank: Any, store: JobStore, trained: JobRecord, tmp_path: Path) -> None:
    assert params.parent_model(ctx(bank, "evaluate", tmp_path, {"evaluate": {"checkpoint": "???"}}), "evaluate.checkpoint") is None

    parent = resolve_parent(store, trained.id)
    r = params.parent_model(ctx(bank, "evaluate", tmp_path, {"evaluate": {"checkpoint": "???"}}, parent=parent), "evaluate.checkpoint")
    assert r is not None
    assert r.value == str(action_dir(trained) / "model_epoch_001.pth")
    assert r.resolver == "parent_model"
    assert trained.id in (r.note or "") and "best" in (r.note or "") and "val_mAP=0.7" in (r.note or "")


def test_parent_model_conflicts_with_a_value_the_user_set(bank: Any, store: JobStore, trained: JobRecord, tmp_path: Path) -> None:
    spec = {"evaluate": {"checkpoint": "/mine/model.pth"}}
    parent = resolve_parent(store, trained.id)
    with pytest.raises(UsageError) as err:
        params.parent_model(ctx(bank, "evaluate", tmp_path, spec, user=("evaluate.checkpoint",), parent=parent), "evaluate.checkpoint")
    assert err.value.exit_code == 2
    assert "evaluate.checkpoint" in err.value.message and trained.id in err.value.message
    # without --parent the user's value stands
    out, done = resolve_spec_params(ctx(bank, "evaluate", tmp_path, {**spec, "results_dir": "???"}, user=("evaluate.checkpoint",)))
    assert out["evaluate"]["checkpoint"] == "/mine/model.pth"
    assert [r.key for r in done] == ["results_dir"]


def test_deploy_onnx_file_from_a_train_parent_says_export_first(bank: Any, store: JobStore, trained: JobRecord, tmp_path: Path) -> None:
    parent = resolve_parent(store, trained.id)
    with pytest.raises(UsageError) as err:
        params.parent_model(ctx(bank, "deploy", tmp_path, {"deploy": {"onnx_file": "???"}}, parent=parent), "deploy.onnx_file")
    assert "ONNX" in err.value.message
    assert f"export --parent {trained.id}" in (err.value.hint or "")

    export = make_job(store, "export")
    (onnx,) = write_onnx(export)
    r = params.parent_model(ctx(bank, "deploy", tmp_path, {"deploy": {"onnx_file": "???"}}, parent=resolve_parent(store, export.id)), "deploy.onnx_file")
    assert r is not None and r.value == str(onnx)


def test_parent_model_folder(script_bank: Any, store: JobStore, tmp_path: Path) -> None:
    c = ctx(script_bank, "consume", tmp_path, {"consume": {"folder": None}}, skill="scriptjob")
    assert params.parent_model_folder(c, "consume.folder") is None
    parent_job = make_job(store, "succeed", skill="scriptjob")
    write_checkpoints(parent_job, [0.1, 0.2])
    c.parent = resolve_parent(store, f"{parent_job.id}:latest")
    r = params.parent_model_folder(c, "consume.folder")
    assert r is not None and r.value == str(action_dir(parent_job))
    assert "latest" in (r.note or "")


def test_parent_note_says_via_which_study_and_that_the_parent_is_not_complete(bank: Any, store: JobStore, tmp_path: Path) -> None:
    child = make_job(store, state=JobState.ERROR)
    write_checkpoints(child, [0.2, 0.1])
    study = make_job(store)
    write_best_rec(study, child.id)
    r = params.parent_model(ctx(bank, "evaluate", tmp_path, {}, parent=resolve_parent(store, study.id)), "evaluate.checkpoint")
    assert r is not None and r.value.endswith("model_epoch_000.pth")
    assert f"via {study.id}" in (r.note or "")
    assert "not COMPLETE" in (r.note or "")


# -- resume_model / ptm_if_no_resume_model --------------------------------------------------------


def test_resume_model_picks_the_newest_complete_checkpoint(bank: Any, tmp_path: Path) -> None:
    key = "train.resume_training_checkpoint_path"
    assert params.resume_model(ctx(bank, "train", tmp_path), key) is None  # not resuming

    c = ctx(bank, "train", tmp_path, resume=True)
    folder = c.results_dir / "train"
    folder.mkdir(parents=True)
    for e in range(3):
        (folder / f"model_epoch_{e:03d}.pth").write_bytes(zip_bytes(str(e)))
    whole = zip_bytes("3")
    (folder / "model_epoch_003.pth").write_bytes(whole[:40])  # being written
    (folder / ".model_epoch_004.pth.tmp").write_bytes(whole)
    r = params.resume_model(c, key)
    assert r is not None
    assert r.value == str(folder / "model_epoch_002.pth")
    assert "epoch 2" in (r.note or "")


def test_resume_model_without_a_checkpoint_is_exit_3(bank: Any, tmp_path: Path) -> None:
    c = ctx(bank, "train", tmp_path, resume=True)
    (c.results_dir / "train").mkdir(parents=True)
    (c.results_dir / "train" / ".model_epoch_000.pth.tmp").write_bytes(b"PK")
    with pytest.raises(ResolutionError) as err:
        params.resume_model(c, "train.resume_training_checkpoint_path")
    assert err.value.exit_code == 3
    assert err.value.data["found"] == []


def test_ptm_is_cleared_when_resuming_from_a_checkpoint(bank: Any, tmp_path: Path) -> None:
    spec = {"train": {"pretrained_model_path": "/ptm/rtdetr.pth"}, "model": {"pretrained_backbone_path": None}}
    c = ctx(bank, "train", tmp_path, spec, user=("train.pretrained_model_path",), resume=True)
    (c.results_dir / "train").mkdir(parents=True)
    (c.results_dir / "train" / "model_epoch_000.pth").write_bytes(zip_bytes())
    r = params.ptm_if_no_resume_model(c, "train.pretrained_model_path")
    assert r is not None and r.value is None and "cleared" in (r.note or "")
    assert params.ptm_if_no_resume_model(c, "model.pretrained_backbone_path") is None  # nothing to clear


def test_ptm_keeps_the_user_value_when_not_resuming(bank: Any, tmp_path: Path) -> None:
    spec = {"results_dir": "???", "train": {"pretrained_model_path": "/ptm/rtdetr.pth", "resume_training_checkpoint_path": None}}
    c = ctx(bank, "train", tmp_path, spec, user=("train.pretrained_model_path",))
    assert params.ptm_if_no_resume_model(c, "train.pretrained_model_path") is None
    out, done = resolve_spec_params(c)
    assert out["train"]["pretrained_model_path"] == "/ptm/rtdetr.pth"
    assert out["train"]["resume_training_checkpoint_path"] is None
    assert {r.key for r in done} == {"results_dir"}


def test_ptm_with_a_parent_on_train_fine_tunes(bank: Any, store: JobStore, trained: JobRecord, tmp_path: Path) -> None:
    spec = {"results_dir": "???", "train": {"pretrained_model_path": None}, "model": {"pretrained_backbone_path": None}}
    c = ctx(bank, "train", tmp_path, spec, parent=resolve_parent(store, f"{trained.id}:epoch=3"))
    out, done = resolve_spec_params(c)
    assert out["train"]["pretrained_model_path"] == str(action_dir(trained) / "model_epoch_003.pth")
    assert out["model"]["pretrained_backbone_path"] is None  # the backbone key does not take the parent
    (r,) = [r for r in done if r.key == "train.pretrained_model_path"]
    assert r.resolver == "ptm_if_no_resume_model" and (r.note or "").startswith("fine-tune from")
    assert spec["train"]["pretrained_model_path"] is None  # the input spec is not changed

    user = {**spec, "train": {"pretrained_model_path": "/ptm/x.pth"}}
    with pytest.raises(UsageError):
        resolve_spec_params(ctx(bank, "train", tmp_path, user, user=("train.pretrained_model_path",), parent=c.parent))


def test_resume_is_resolved_before_the_ptm_is_looked_at(script_bank: Any, tmp_path: Path) -> None:
    spec = {"results_dir": "x", "succeed": {"pretrained": "/ptm.pth", "resume_from": None}, "encryption_key": None}
    c = ctx(script_bank, "succeed", tmp_path, spec, user=("succeed.pretrained",), skill="scriptjob", resume=True)
    (c.results_dir / "succeed").mkdir(parents=True)
    (c.results_dir / "succeed" / "model_epoch_000.pth").write_bytes(zip_bytes())
    out, done = resolve_spec_params(c)
    assert out["succeed"]["resume_from"] == str(c.results_dir / "succeed" / "model_epoch_000.pth")
    assert out["succeed"]["pretrained"] is None
    assert done[0].resolver == "resume_model"


# -- create_onnx_file -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "???"])
def test_create_onnx_file_defaults_into_the_export_folder(bank: Any, tmp_path: Path, value: Any) -> None:
    c = ctx(bank, "export", tmp_path, {"export": {"onnx_file": value}})
    r = params.create_onnx_file(c, "export.onnx_file")
    assert r.value == str(tmp_path / "job" / "results" / "export" / "model.onnx")


def test_create_onnx_file_bare_name_and_absolute_path(bank: Any, tmp_path: Path) -> None:
    c = ctx(bank, "export", tmp_path, {"export": {"onnx_file": "rtdetr_fp32.onnx"}}, user=("export.onnx_file",))
    r = params.create_onnx_file(c, "export.onnx_file")
    assert r.value == str(tmp_path / "job" / "results" / "export" / "rtdetr_fp32.onnx")
    assert r.note is not None

    target = tmp_path / "models" / "m.onnx"
    c = ctx(bank, "export", tmp_path, {"export": {"onnx_file": str(target)}}, user=("export.onnx_file",))
    assert params.create_onnx_file(c, "export.onnx_file").value == str(target)


# -- key ------------------------------------------------------------------------------------------


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.mark.usefixtures("no_key_env")
@pytest.mark.parametrize(("from_ctx", "in_spec"), [("s3cret-key", None), (None, "s3cret-key"), ("s3cret-key", "other-key")])
def test_key_moves_the_value_out_of_the_spec(script_bank: Any, tmp_path: Path, from_ctx: str | None, in_spec: str | None) -> None:
    spec = {"results_dir": "???", "encryption_key": in_spec, "succeed": {"pretrained": None, "resume_from": None}}
    c = ctx(script_bank, "succeed", tmp_path, spec, skill="scriptjob", key=from_ctx)
    r = params.key(c, "encryption_key")
    assert r is not None and r.value == KEY_PLACEHOLDER
    assert c.secret == "s3cret-key"
    assert "s3cret-key" not in repr(r)
    if in_spec is None:  # the key given as key= never shows in the context's repr
        assert "s3cret-key" not in repr(c)
    out, _ = resolve_spec_params(c)
    assert out["encryption_key"] == KEY_PLACEHOLDER
    assert spec["encryption_key"] == in_spec


@pytest.mark.usefixtures("no_key_env")
@pytest.mark.parametrize("in_spec", [None, ""])
def test_no_key_leaves_the_spec_alone(bank: Any, tmp_path: Path, in_spec: str | None) -> None:
    c = ctx(bank, "evaluate", tmp_path, {"encryption_key": in_spec})
    assert params.key(c, "encryption_key") is None
    assert c.secret is None


def test_key_from_the_environment(bank: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "env-key-123")
    for in_spec in (None, KEY_PLACEHOLDER):
        c = ctx(bank, "evaluate", tmp_path, {"encryption_key": in_spec})
        r = params.key(c, "encryption_key")
        assert r is not None and r.value == KEY_PLACEHOLDER and c.secret == "env-key-123"


@pytest.mark.usefixtures("no_key_env")
def test_placeholder_without_any_key_is_an_error(bank: Any, tmp_path: Path) -> None:
    """The spec.yaml of a job started with a key, resumed without one: never run it keyless."""
    c = ctx(bank, "evaluate", tmp_path, {"encryption_key": KEY_PLACEHOLDER}, user=("encryption_key",))
    with pytest.raises(UsageError) as err:
        params.key(c, "encryption_key")
    assert KEY_ENV in (err.value.hint or "")
    assert params.key(ctx(bank, "evaluate", tmp_path, {"encryption_key": KEY_PLACEHOLDER}, key="k-again"), "encryption_key") is not None


# -- resolve_spec_params guards ---------------------------------------------------------------------


def test_parent_for_an_action_that_takes_none(script_bank: Any, store: JobStore, tmp_path: Path) -> None:
    parent_job = make_job(store, "succeed", skill="scriptjob")
    write_checkpoints(parent_job, [0.1])
    c = ctx(script_bank, "fail", tmp_path, {"results_dir": "???"}, skill="scriptjob", parent=resolve_parent(store, parent_job.id))
    with pytest.raises(UsageError) as err:
        resolve_spec_params(c)
    assert "takes no parent" in err.value.message


# -- end to end through plan() --------------------------------------------------------------------


def _jobs(store: JobStore) -> set[str]:
    return {p.name for p in store.root.iterdir()} if store.root.is_dir() else set()


def test_plan_evaluate_with_a_train_parent(bank: Any, sdg: Any, store: JobStore, trained: JobRecord) -> None:
    va = sdg.splits["val"]
    before = _jobs(store)
    prepared = skillrun.plan(
        "rtdetr",
        "evaluate",
        parent=trained.id,
        overrides=[f"dataset.test_data_sources.image_dir={va.image_dir}", f"dataset.test_data_sources.json_file={va.json_file}"],
        bank=bank,
    )
    assert prepared.report.ok
    assert prepared.spec["evaluate"]["checkpoint"] == str(action_dir(trained) / "model_epoch_001.pth")
    assert prepared.spec["results_dir"] == str(store.job_dir("<job_id>") / "results")
    assert prepared.parent is not None and prepared.parent.job.id == trained.id
    assert {r.key: r.resolver for r in prepared.resolved} == {"results_dir": "output_dir", "evaluate.checkpoint": "parent_model"}
    assert _jobs(store) == before  # plan writes nothing


def test_plan_evaluate_with_latest_and_an_export_parent_for_deploy(bank: Any, store: JobStore, trained: JobRecord) -> None:
    overrides = ["dataset.test_data_sources.image_dir=/d", "dataset.test_data_sources.json_file=/d.json"]
    p = skillrun.plan("rtdetr", "evaluate", parent=f"{trained.id}:latest", overrides=overrides, check_data=False, bank=bank)
    assert p.spec["evaluate"]["checkpoint"].endswith("model_epoch_003.pth")
    with pytest.raises(UsageError, match="ONNX"):
        skillrun.plan("rtdetr", "deploy", parent=trained.id, check_data=False, bank=bank)


def test_plan_train_is_a_study_unless_automl_off(bank: Any, sdg: Any, store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLRUN_AUTOML_MEASURE", "0")  # no step-time subprocess here (tests/automl covers it)
    overrides = seed_train_overrides(sdg)
    study = skillrun.plan("rtdetr", "train", overrides=overrides, bank=bank)
    assert study.automl.on and study.study is not None
    assert study.launch.argv[1:] == ["-m", "skillrun.automl", str(store.job_dir("<job_id>"))]
    assert study.study.review.metric == "val_mAP" and study.study.review.direction == "maximize"
    assert not store.root.exists()

    p = skillrun.plan("rtdetr", "train", overrides=overrides, automl="off", bank=bank)
    spec_file = str(store.job_dir("<job_id>") / "spec.yaml")
    assert p.launch.argv[1:] == ["-m", "skillrun.engine", "rtdetr", "train", "-e", spec_file]
    assert Path(p.launch.argv[0]).name.startswith("python")
    assert p.launch.nproc_per_node == 1
    assert p.spec["results_dir"] == str(store.job_dir("<job_id>") / "results")
    assert not store.root.exists()  # plan creates no job folder


def test_plan_train_on_two_gpus_goes_through_torchrun(bank: Any, sdg: Any, store: JobStore) -> None:
    overrides = [*seed_train_overrides(sdg), "train.num_gpus=2", "train.gpu_ids=[0,1]", "dataset.batch_size=3"]  # 6 images: 2 ranks x 3
    p = skillrun.plan("rtdetr", "train", overrides=overrides, automl="off", bank=bank)
    argv = p.launch.argv
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc-per-node") + 1] == "2"
    assert argv[-6:] == ["-m", "skillrun.engine", "rtdetr", "train", "-e", str(store.job_dir("<job_id>") / "spec.yaml")]
    assert p.launch.nproc_per_node == 2
    assert not store.root.exists()


def test_plan_train_with_a_parent_fine_tunes(bank: Any, sdg: Any, store: JobStore, trained: JobRecord) -> None:
    p = skillrun.plan("rtdetr", "train", parent=trained.id, overrides=seed_train_overrides(sdg), automl="off", bank=bank)
    assert p.spec["train"]["pretrained_model_path"] == str(action_dir(trained) / "model_epoch_001.pth")
    assert p.spec["train"]["resume_training_checkpoint_path"] is None


# -- real script jobs -------------------------------------------------------------------------------


@pytest.fixture
def succeeded(script_bank: Any) -> Any:
    """A finished scriptjob succeed run: epochs 0-2, val_mAP best at epoch 1."""
    job = skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=3", "succeed.scores=[0.1,0.5,0.3]"], bank=script_bank, timeout=60)
    assert job.record.state is JobState.COMPLETE
    return job


@pytest.mark.parametrize(("selector", "expected"), [("", "model_epoch_001.pth"), (":latest", "model_epoch_002.pth"), (":epoch=0", "model_epoch_000.pth")])
def test_consume_takes_the_selected_checkpoint(script_bank: Any, succeeded: Any, selector: str, expected: str) -> None:
    child = skillrun.run("scriptjob", "consume", parent=succeeded.id + selector, bank=script_bank, timeout=60)
    rec = child.record
    assert rec.state is JobState.COMPLETE
    model = str(succeeded.action_dir / expected)
    assert rec.parent is not None
    assert rec.parent.job_id == succeeded.id
    assert rec.parent.selector == (selector.lstrip(":") or "best")
    assert rec.parent.resolved == {"consume.model": model, "consume.folder": str(succeeded.action_dir)}
    consumed = json.loads((child.action_dir / "consumed.json").read_text())
    assert consumed == {"model": model, "folder": str(succeeded.action_dir)}


def test_export_then_consume_the_onnx(script_bank: Any, succeeded: Any) -> None:
    export = skillrun.run("scriptjob", "export", parent=f"{succeeded.id}:latest", bank=script_bank, timeout=60)
    assert export.record.state is JobState.COMPLETE
    onnx = export.action_dir / "model.onnx"
    assert onnx.read_bytes().endswith(b"model_epoch_002.pth")
    assert export.record.parent is not None and export.record.parent.resolved["export.checkpoint"].endswith("model_epoch_002.pth")

    consume = skillrun.run("scriptjob", "consume", parent=export.id, bank=script_bank, timeout=60)
    rec = consume.record
    assert rec.state is JobState.COMPLETE
    assert rec.parent is not None and rec.parent.selector == "onnx"
    assert rec.parent.resolved["consume.model"] == str(onnx)
    assert json.loads((consume.action_dir / "consumed.json").read_text())["model"] == str(onnx)


def test_consume_from_a_study_records_the_chain(script_bank: Any, store: JobStore, succeeded: Any) -> None:
    study = make_job(store, "succeed", skill="scriptjob")
    write_best_rec(study, succeeded.id)
    consume = skillrun.run("scriptjob", "consume", parent=study.id, bank=script_bank, timeout=60)
    rec = consume.record
    assert rec.parent is not None
    assert (rec.parent.job_id, rec.parent.via) == (study.id, [succeeded.id])
    assert rec.parent.resolved["consume.model"] == str(succeeded.action_dir / "model_epoch_001.pth")


def test_resume_continues_from_the_newest_checkpoint(script_bank: Any, store: JobStore) -> None:
    job = skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=2"], bank=script_bank, timeout=60)
    assert job.record.state is JobState.COMPLETE
    again = skillrun.resume(job.id, overrides=["succeed.epochs=4"], bank=script_bank, timeout=60)
    rec = again.record
    assert again.id == job.id
    assert rec.state is JobState.COMPLETE
    assert rec.attempts == 2
    assert [t.state.value for t in rec.transitions] == ["PENDING", "RUNNING", "COMPLETE", "PENDING", "RUNNING", "COMPLETE"]
    newest = str(job.action_dir / "model_epoch_001.pth")
    assert rec.transitions[3].note == f"resumed from {newest}"

    job_dir = store.job_dir(job.id)
    spec = yaml.safe_load((job_dir / "spec.yaml").read_text())
    assert spec["succeed"]["resume_from"] == newest
    assert spec["succeed"]["epochs"] == 4
    first = yaml.safe_load((job_dir / "spec.attempt1.yaml").read_text())
    assert first["succeed"]["resume_from"] is None and first["succeed"]["epochs"] == 2

    assert f"resuming after {newest}" in again.log_text()
    assert sorted(p.name for p in job.action_dir.glob("model_epoch_*.pth")) == [f"model_epoch_{e:03d}.pth" for e in range(4)]


def test_resume_without_a_checkpoint_is_refused_and_changes_nothing(script_bank: Any, store: JobStore) -> None:
    job = skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=0"], bank=script_bank, timeout=60)
    assert job.record.state is JobState.COMPLETE
    with pytest.raises(ResolutionError) as err:
        skillrun.resume(job.id, bank=script_bank)
    assert err.value.exit_code == 3
    rec = store.load(job.id)
    assert rec.attempts == 1 and rec.state is JobState.COMPLETE
    assert not (store.job_dir(job.id) / "spec.attempt1.yaml").exists()


@pytest.mark.usefixtures("no_key_env")
def test_key_reaches_the_job_only_through_its_environment(script_bank: Any, store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    job = skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=1"], key="s3cret-key-42", bank=script_bank, timeout=60)
    assert job.record.state is JobState.COMPLETE
    spec_text = (store.job_dir(job.id) / "spec.yaml").read_text()
    assert "s3cret-key-42" not in spec_text
    assert yaml.safe_load(spec_text)["encryption_key"] == KEY_PLACEHOLDER
    assert "s3cret-key-42" not in (store.job_dir(job.id) / "job.json").read_text()
    assert f"encryption_key in spec: {KEY_PLACEHOLDER}" in job.log_text()

    # a resume needs the key again: refused without it, nothing changed
    with pytest.raises(UsageError):
        skillrun.resume(job.id, overrides=["succeed.epochs=2"], bank=script_bank)
    assert store.load(job.id).attempts == 1
    monkeypatch.setenv(KEY_ENV, "s3cret-key-42")
    again = skillrun.resume(job.id, overrides=["succeed.epochs=2"], bank=script_bank, timeout=60)
    assert again.record.state is JobState.COMPLETE and again.record.attempts == 2
    assert again.log_text().count("key from env: ***") == 2
