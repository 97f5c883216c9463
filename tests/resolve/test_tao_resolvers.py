"""TAO's spec_params resolvers skillrun lacked: output files, pretrained weights, constants and links.

The skill is written in TAO's own ``skill_info.yaml`` shape (own content), so the
resolvers are reached the way a TAO bank reaches them: through the adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import skillrun
from skillrun.contracts.skill import ConstantParam, LinkParam, Resolver
from skillrun.errors import ResolutionError
from skillrun.resolve.params import MEANING, OUTPUT_FILES, RESOLVERS, ResolveContext, resolve_spec_params
from skillrun.resolve.parents import ParentArtifact
from tests.resolve.test_parents import make_job, write_checkpoints

SKILL_INFO = """\
name: tao-train-widget
network_arch: widget
container_image: nvcr.io/example/widget:1.0
actions:
  train:
    command: widget train -e {config_path}
  gen_trt_engine:
    command: widget gen_trt_engine -e {config_path}
spec_params:
  train:
    results_dir: output_dir
    model.pretrained_path: ptm
    model.mode: StereoWidget
    model.layers: 4
    model.backbone_path:
      link: https://example.invalid/weights/backbone_v2.pth
      destination_path: /ptm/backbone_v2.pth
    train.start_from: parent_model_or_ptm
    train.resume_from: resume_model_or_ptm
    model.legacy: tlt_nonsense_resolver
  gen_trt_engine:
    results_dir: output_dir
    gen_trt_engine.trt_engine: create_engine_file
    gen_trt_engine.cal_cache_file: create_cal_cache
    gen_trt_engine.pth_file: create_pth_file
    gen_trt_engine.result_file: create_inference_result_file_pose
"""


@pytest.fixture
def widget(tmp_path: Path) -> Any:
    skill = tmp_path / "bank" / "skills" / "models" / "tao-train-widget"
    (skill / "references").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: tao-train-widget\ndescription: A widget detector for tests.\n---\n")
    (skill / "references" / "skill_info.yaml").write_text(SKILL_INFO)
    return skillrun.load_bank([tmp_path / "bank"], plugins=False).get("tao-train-widget")


def ctx(skill: Any, action: str, tmp_path: Path, spec: dict[str, Any], *, user: tuple[str, ...] = (), parent: ParentArtifact | None = None, resume: bool = False) -> ResolveContext:
    provenance = {k: ("override" if k in user else "template") for k in _leaves(spec)}
    return ResolveContext(skill, action, tmp_path / "job" / "results", spec, provenance, parent=parent, resume=resume)


def _leaves(spec: dict[str, Any], prefix: str = "") -> list[str]:
    return [p for k, v in spec.items() for p in (_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])]


def test_the_adapter_reads_resolvers_constants_and_links_and_warns_on_an_unknown_resolver(widget: Any) -> None:
    params = widget.info.actions["train"].spec_params
    assert params["train.start_from"] is Resolver.parent_model_or_ptm and params["model.pretrained_path"] is Resolver.ptm
    assert params["model.mode"] == ConstantParam(constant="StereoWidget") and params["model.layers"] == ConstantParam(constant=4)
    assert params["model.backbone_path"] == LinkParam(link="https://example.invalid/weights/backbone_v2.pth", destination_path="/ptm/backbone_v2.pth")
    assert "model.legacy" not in params
    warned = [w for w in widget.warnings if w.path.endswith("spec_params.train.model.legacy")]
    assert len(warned) == 1 and "tlt_nonsense_resolver" in warned[0].message


def test_every_resolver_has_a_function_and_a_meaning() -> None:
    assert set(RESOLVERS) == set(Resolver)
    assert {r.value for r in Resolver} | {"constant", "link"} == set(MEANING)


def test_output_file_resolvers_name_tao_files_in_the_action_folder(widget: Any, tmp_path: Path) -> None:
    spec = {"results_dir": "", "gen_trt_engine": {"trt_engine": "", "cal_cache_file": None, "pth_file": "", "result_file": "???"}}
    out, done = resolve_spec_params(ctx(widget, "gen_trt_engine", tmp_path, spec))
    folder = tmp_path / "job" / "results" / "gen_trt_engine"
    assert out["gen_trt_engine"] == {"trt_engine": str(folder / "model.engine"), "cal_cache_file": str(folder / "cal.bin"), "pth_file": str(folder / "model.pth"), "result_file": str(folder / "results.txt")}
    assert {r.resolver for r in done} >= {"create_engine_file", "create_cal_cache", "create_pth_file", "create_inference_result_file_pose"}
    assert OUTPUT_FILES[Resolver.create_engine_file] == "model.engine"


def test_constants_are_written_and_a_users_value_wins_with_a_note(widget: Any, tmp_path: Path) -> None:
    spec = {"results_dir": "", "model": {"mode": "", "layers": 2}, "train": {}}
    with pytest.raises(ResolutionError):  # the link (below) has no local copy yet
        resolve_spec_params(ctx(widget, "train", tmp_path, spec))
    local = tmp_path / "backbone_v2.pth"
    local.write_bytes(b"w")
    spec["model"]["backbone_path"] = str(local)
    out, done = resolve_spec_params(ctx(widget, "train", tmp_path, spec, user=("model.layers", "model.backbone_path")))
    assert out["model"]["mode"] == "StereoWidget"
    layers = next(r for r in done if r.key == "model.layers")
    assert out["model"]["layers"] == 2 and "kept your value" in (layers.note or "")


def test_a_link_is_never_downloaded_it_is_a_clear_error_naming_the_fix(widget: Any, tmp_path: Path) -> None:
    spec = {"results_dir": "", "model": {"mode": ""}, "train": {}}
    with pytest.raises(ResolutionError) as err:
        resolve_spec_params(ctx(widget, "train", tmp_path, spec))
    assert err.value.exit_code == 3 and err.value.path == "model.backbone_path"
    assert "https://example.invalid/weights/backbone_v2.pth" in err.value.message and "does not download" in err.value.message
    assert "model.backbone_path=/path/to/backbone_v2.pth" in (err.value.hint or "")


@pytest.mark.parametrize("value", ["ngc://nvidia/tao/widget:1.0", "hf_model://org/widget", "https://example.invalid/w.pth"])
def test_ptm_that_needs_a_download_is_refused_at_plan(widget: Any, tmp_path: Path, value: str) -> None:
    local = tmp_path / "b.pth"
    local.write_bytes(b"w")
    spec = {"results_dir": "", "model": {"mode": "", "backbone_path": str(local), "pretrained_path": value}, "train": {}}
    with pytest.raises(ResolutionError) as err:
        resolve_spec_params(ctx(widget, "train", tmp_path, spec, user=("model.backbone_path", "model.pretrained_path")))
    assert err.value.path == "model.pretrained_path" and value in err.value.message


def test_parent_model_or_ptm_takes_the_parent_when_there_is_one(widget: Any, tmp_path: Path) -> None:
    from skillrun.record.store import JobStore
    from skillrun.resolve.parents import resolve_parent

    local = tmp_path / "b.pth"
    local.write_bytes(b"w")
    base = {"results_dir": "", "model": {"mode": "", "backbone_path": str(local), "pretrained_path": ""}, "train": {"start_from": "", "resume_from": ""}}
    alone, done = resolve_spec_params(ctx(widget, "train", tmp_path, base, user=("model.backbone_path",)))
    assert alone["train"]["start_from"] == "" and not any(r.key == "train.start_from" for r in done)
    store = JobStore(tmp_path / "ws")
    job = make_job(store, "train", skill="tao-train-widget")
    write_checkpoints(job, [0.1, 0.2])
    parent = resolve_parent(store, f"{job.id}:latest")
    out, done = resolve_spec_params(ctx(widget, "train", tmp_path, base, user=("model.backbone_path",), parent=parent))
    assert out["train"]["start_from"] == str(parent.path) and any(r.resolver == "parent_model_or_ptm" for r in done)
