"""RT-DETR on a real local Slurm cluster: torchrun on CPU (gloo), then evaluate from the checkpoint.

- 2 processes on 1 node (``train.num_gpus=2``: processes per node on CPU);
- 1 process on each of 2 nodes (``train.num_nodes=2``): srun starts one launcher per
  node and each computes its own rank; two nodes that both believed they were rank 0
  would never finish the rendezvous (the Slurm time limit bounds that failure);
- the 2-node job is requeued (``scontrol requeue``) once its first checkpoint exists: it goes
  RUNNING -> PENDING -> RUNNING and resumes from that checkpoint
  (``train.resume_training_checkpoint_path``), on both nodes again;
- each trained job is evaluated with ``--parent`` on the cluster.

Tiny preset, 64 px, 4 generated images, 1 epoch: the point is the launch, not the model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("transformers")

import skillrun  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.integration import slurm_cluster  # noqa: E402

pytestmark = pytest.mark.xdist_group("slurm")


@pytest.fixture(scope="module", autouse=True)
def _cluster() -> Iterator[Any]:
    yield slurm_cluster.cluster()  # stopped when the test process exits (atexit in slurm_cluster)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from skillrun.data.sdg import generate_coco

    return generate_coco(tmp_path_factory.mktemp("slurm-data"), splits={"train": 4, "val": 2}, image_size=(64, 64), seed=3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _requeue_after_first_checkpoint(results: Path, slurm_id: str, done: threading.Event) -> None:
    """Requeue the running job once model_epoch_000.pth exists; then let it start again at once."""
    deadline = time.monotonic() + 240
    while not (results / "train" / "model_epoch_000.pth").exists():
        if done.is_set() or time.monotonic() > deadline:
            return
        time.sleep(0.1)
    subprocess.run(["scontrol", "requeue", slurm_id], capture_output=True, timeout=30)
    for _ in range(100):  # skip Slurm's requeue delay (BeginTime)
        if "BeginTime" in subprocess.run(["squeue", "-h", "-j", slurm_id, "-o", "%r"], capture_output=True, text=True, timeout=30).stdout:
            slurm_cluster.start_requeued_job_now(slurm_id)
            return
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("layout", "sizes", "cpus", "nodes", "requeue"),
    [
        ("2 processes on 1 node", ["train.num_gpus=2", "train.gpu_ids=[0,1]"], 2, "n1", False),
        ("1 process on each of 2 nodes, requeued once", ["train.num_nodes=2", "train.num_epochs=3"], 1, "n[1-2]", True),
    ],
)
def test_rtdetr_trains_on_slurm_and_is_evaluated_from_its_checkpoint(
    cli: Any, data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, sizes: list[str], cpus: int, nodes: str, requeue: bool
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"slurm:\n  partition: debug\n  time: '10'\n  cpus_per_task: {cpus}\n  master_port: {_free_port()}\n")
    monkeypatch.setenv("SKILLRUN_CONFIG", str(config))
    tr, va = data.splits["train"], data.splits["val"]
    small = ["dataset.workers=0", "dataset.batch_size=2", "dataset.augmentation.eval_spatial_size=[64,64]"]
    started = cli(
        "run", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_tiny_cpu.yaml"), "--automl", "off", "--backend", "slurm", "--detach", "--json",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        "train.num_epochs=1", "train.checkpoint_interval=1", "train.validation_interval=1",
        "model.num_queries=10", "model.num_select=10", "model.num_denoising=0",
        "dataset.augmentation.train_spatial_size=[64,64]", *small, *sizes,
    )  # fmt: skip
    assert started.code == 0, f"{layout}: {started.out[-3000:]}"
    job = skillrun.job(started.json()["job_id"])
    done = threading.Event()
    if requeue:
        slurm_id = job.refresh().backend.ref["job_id"]
        threading.Thread(target=_requeue_after_first_checkpoint, args=(job.results_dir, slurm_id, done), daemon=True).start()
    try:
        job.wait(480, poll=0.5)
    finally:
        done.set()
    rec = job.record.model_dump(mode="json")
    assert rec["state"] == "COMPLETE" and rec["backend"]["name"] == "slurm", f"{layout}: {rec['error_class']}: {rec['error_message']}\n{job.log_text()[-3000:]}"
    # Slurm may place a one-node job on either node (the other may be busy with a neighbouring test's job)
    assert rec["backend"]["ref"]["nodes"] in ((nodes,) if nodes == "n[1-2]" else ("n1", "n2")), rec["backend"]["ref"]["nodes"]
    assert rec["backend"]["ref"]["restarts"] == (1 if requeue else 0)
    states = [t["state"] for t in rec["transitions"]]
    if requeue:
        assert states == ["PENDING", "RUNNING", "PENDING", "RUNNING", "COMPLETE"]
        assert "resuming from model_epoch_000.pth" in rec["transitions"][3]["note"] and "train.resume_training_checkpoint_path" in rec["transitions"][3]["note"]
        assert "resuming from " in job.log_text() and "epoch 1 of 3" in job.log_text()
    else:
        assert states == ["PENDING", "RUNNING", "COMPLETE"]
    launch = rec["launch"]
    assert launch["nproc_per_node"] * launch["nnodes"] == 2 and "torch.distributed.run" in launch["argv"]
    folder = Path(rec["results_dir"]) / "train"
    assert sorted(p.name for p in folder.glob("model_epoch_*.pth")) == [f"model_epoch_{i:03d}.pth" for i in range(3 if requeue else 1)]
    events = [json.loads(line) for line in (folder / "status.json").read_text().splitlines()]
    assert events[-1]["status"] == "SUCCESS" and any(e.get("kpi", {}).get("val_mAP") is not None for e in events)

    ev = cli("run", "rtdetr", "evaluate", "--parent", rec["id"], "--backend", "slurm", "--json", f"dataset.test_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}", *small)
    assert ev.code == 0, ev.out[-3000:]
    ev_rec = ev.json()["job"]
    assert ev_rec["state"] == "COMPLETE" and ev_rec["parent"]["job_id"] == rec["id"]
    assert ev_rec["parent"]["resolved"]["evaluate.checkpoint"].startswith(str(folder / "model_epoch_"))
    assert 0.0 <= ev_rec["metrics"]["mAP"] <= 1.0
