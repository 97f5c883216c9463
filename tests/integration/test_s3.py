"""S3 data sources and result uploads against a real S3-compatible server (moto's server mode on 127.0.0.1).

Jobs run for real (local backend, detached runner) with the ``s3data`` fixture skill,
whose script reads every image its staged sources name.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BANK = Path(__file__).resolve().parent / "bank"
SB = ("--skills-dir", str(BANK))
ACCESS_KEY = "AKIASKILLRUNTEST0001"
SECRET_KEY = "skillrunSECRETvalue0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.stop()


@pytest.fixture
def s3(server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A client of the fake server; the same credentials and endpoint are in the environment jobs inherit."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": server,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return boto3.client("s3", endpoint_url=server)


def _bucket(s3: Any) -> str:
    name = f"sr-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _tar_gz(members: dict[str, bytes] | None = None, folder: Path | None = None, top: str = "images", extra: tuple[tarfile.TarInfo, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if folder is not None:
            tar.add(folder, arcname=top)
        for name, data in (members or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def _keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _job_dir(home: Path) -> Path:
    (job,) = list((home / "jobs").iterdir())
    return job


def _no_secrets_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET_KEY.encode() not in data and ACCESS_KEY.encode() not in data, path


def test_s3_sources_are_staged_into_inputs_and_the_job_reads_them(cli: Any, s3: Any, sdg: Any, _isolated_home: Path) -> None:
    bucket = _bucket(s3)
    train, val = sdg.splits["train"], sdg.splits["val"]
    s3.put_object(Bucket=bucket, Key="data/train/images.tar.gz", Body=_tar_gz(folder=train.image_dir))  # a tar of the images/ folder
    s3.upload_file(str(train.json_file), bucket, "data/train/annotations.json")
    for png in sorted(val.image_dir.iterdir()):  # the val images as a plain prefix, no archive
        s3.upload_file(str(png), bucket, f"data/val/images/{png.name}")
    s3.upload_file(str(val.json_file), bucket, "data/val/annotations.json")
    s3.put_object(Bucket=bucket, Key="data/weights.txt", Body=b"w1")
    res = cli(
        *SB, "run", "s3data", "read",
        f"train_datasets=[s3://{bucket}/data/train]",  # TAO source name + source prefix
        f"dataset.val_data_sources={{image_dir: s3://{bucket}/data/val/images/, json_file: s3://{bucket}/data/val/annotations.json}}",
        f"read.weights=s3://{bucket}/data/weights.txt",
        "read.print_env=[AWS_SECRET_ACCESS_KEY,AWS_ACCESS_KEY_ID]",
        "--json",
    )  # fmt: skip
    assert res.code == 0, res.out + res.err
    job_dir = _job_dir(_isolated_home)
    inputs = job_dir / "inputs"
    counts = json.loads((job_dir / "results" / "read" / "counts.json").read_text())
    assert counts["sources"] == [
        {"image_dir": str(inputs / "train_data_sources-0" / "images" / "images"), "json_file": str(inputs / "train_data_sources-0" / "annotations.json"), "images": 6, "found": 6},
        {"image_dir": str(inputs / "val_data_sources" / "images"), "json_file": str(inputs / "val_data_sources" / "annotations.json"), "images": 3, "found": 3},
    ]
    assert counts["num_classes"] == 3 and counts["eval_class_ids"] == [201, 305, 412]  # derived from the staged annotations
    assert counts["weights"] == "w1"
    spec_text = (job_dir / "spec.yaml").read_text()
    assert "s3://" not in spec_text and str(inputs) in spec_text
    manifest = json.loads((inputs / "sources.json").read_text())
    assert [(m["key"], m["source"], m["kind"]) for m in manifest] == [
        ("dataset.train_data_sources[0].json_file", f"s3://{bucket}/data/train/annotations.json", "object"),
        ("dataset.train_data_sources[0].image_dir", f"s3://{bucket}/data/train/images.tar.gz", "archive"),
        ("dataset.val_data_sources.json_file", f"s3://{bucket}/data/val/annotations.json", "object"),
        ("dataset.val_data_sources.image_dir", f"s3://{bucket}/data/val/images/", "prefix"),
        ("read.weights", f"s3://{bucket}/data/weights.txt", "object"),
    ]
    assert not list(inputs.rglob(".*"))  # no partial downloads or temp folders left
    log = (job_dir / "logs" / "output.log").read_text()
    assert f"[skillrun] staged dataset.train_data_sources[0].image_dir: s3://{bucket}/data/train/images.tar.gz -> " in log
    assert "AWS_SECRET_ACCESS_KEY=***" in log and "AWS_ACCESS_KEY_ID=***" in log
    _no_secrets_in(job_dir)


def _malicious_member(kind: str) -> tuple[dict[str, bytes], list[tarfile.TarInfo], str]:
    if kind == "symlink":
        link = tarfile.TarInfo("images/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return {}, [link], "images/passwd"
    name = {"dotdot": "../../../escape.txt", "absolute": "/tmp/skillrun-s3-escape.txt"}[kind]
    return {name: b"pwned"}, [], name


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_a_malicious_archive_is_refused_and_nothing_lands_outside(cli: Any, s3: Any, sdg: Any, _isolated_home: Path, tmp_path: Path, kind: str) -> None:
    bucket = _bucket(s3)
    members, extra, name = _malicious_member(kind)
    s3.put_object(Bucket=bucket, Key="evil/images.tar.gz", Body=_tar_gz({"images/000000.png": b"fine", **members}, extra=tuple(extra)))
    s3.upload_file(str(sdg.splits["train"].json_file), bucket, "evil/annotations.json")
    res = cli(*SB, "run", "s3data", "read", f"dataset.train_data_sources=[s3://{bucket}/evil]", "--json")
    assert res.code == 2, res.out + res.err
    doc = res.json()
    uri = f"s3://{bucket}/evil/images.tar.gz"
    assert doc["error"] == "UnsafeArchive" and doc["archive"] == uri and doc["member"] == name
    assert doc["message"].startswith(f"{uri}: refusing to extract member {name!r}") and doc["hint"]
    job_dir = _job_dir(_isolated_home)
    assert doc["job_id"] == job_dir.name
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "ERROR" and record["error_class"] == "UnsafeArchive" and name in record["error_message"]
    assert sorted(p.relative_to(job_dir / "inputs").as_posix() for p in (job_dir / "inputs").rglob("*")) == ["train_data_sources-0", "train_data_sources-0/annotations.json"]
    assert not list(tmp_path.rglob("escape.txt")) and not Path("/tmp/skillrun-s3-escape.txt").exists()
    assert "staging failed" in (job_dir / "logs" / "output.log").read_text()


def test_a_missing_key_or_bucket_is_a_clear_error_naming_the_uri(cli: Any, s3: Any, sdg: Any, _isolated_home: Path) -> None:
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="train/images.tar.gz", Body=_tar_gz(folder=sdg.splits["train"].image_dir))
    human = cli(*SB, "run", "s3data", "read", f"train_datasets=[s3://{bucket}/train]")
    assert human.code == 2 and "Traceback" not in human.out + human.err and "no such object" in human.err
    job_dir = _job_dir(_isolated_home)
    record = json.loads((job_dir / "job.json").read_text())
    uri = f"s3://{bucket}/train/annotations.json"
    assert record["state"] == "ERROR" and record["error_class"] == "StagingError"
    assert record["error_message"] == f"cannot download {uri}: no such object"
    res = cli(*SB, "run", "s3data", "read", f"train_datasets=[s3://{bucket}/train]", "--json")
    doc = res.json()
    assert res.code == 2 and doc["message"] == f"cannot download {uri}: no such object" and doc["uri"] == uri
    assert doc["hint"] == f"s3://{bucket}/train/ holds: images.tar.gz"
    res = cli(*SB, "run", "s3data", "read", "train_datasets=[s3://no-such-bucket-0451/train]", "--json")
    assert res.code == 2 and "bucket 'no-such-bucket-0451' does not exist" in res.json()["message"]
    for job in (_isolated_home / "jobs").iterdir():
        _no_secrets_in(job)


def test_no_credentials_is_a_clear_error(cli: Any, s3: Any, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = _bucket(s3)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup (and its timeouts)
    res = cli(*SB, "run", "s3data", "read", f"train_datasets=[s3://{bucket}/train]", "--json")
    doc = res.json()
    msg = f"no AWS credentials found in the environment (needed for s3://{bucket}/train/annotations.json)"
    assert res.code == 2 and doc["message"] == msg and "AWS_ACCESS_KEY_ID" in doc["hint"]
    record = json.loads((_job_dir(_isolated_home) / "job.json").read_text())
    assert record["state"] == "ERROR" and record["error_message"] == msg


def _local_source(tmp_path: Path, sdg: Any) -> Path:
    """A local source folder as users keep it: images.tar.gz (flat) + annotations.json."""
    folder = tmp_path / "local-train"
    folder.mkdir()
    train = sdg.splits["train"]
    (folder / "images.tar.gz").write_bytes(_tar_gz({p.name: p.read_bytes() for p in sorted(train.image_dir.iterdir())}))
    (folder / "annotations.json").write_bytes(train.json_file.read_bytes())
    return folder


def test_results_are_uploaded_after_a_detached_job_honouring_upload_excludes(cli: Any, s3: Any, sdg: Any, _isolated_home: Path, tmp_path: Path) -> None:
    import skillrun

    bucket = _bucket(s3)
    folder = _local_source(tmp_path, sdg)
    args = (*SB, "run", "s3data", "read", f"dataset.train_data_sources=[{folder}]", "--upload", f"s3://{bucket}/runs", "--upload-exclude", "logs/*", "--detach", "--json")
    res = cli(*args)
    assert res.code == 0, res.out + res.err
    job_id = res.json()["job_id"]
    job = skillrun.job(job_id).wait(60)
    record = job.record
    base = f"s3://{bucket}/runs/{job_id}/"
    assert record.state.value == "COMPLETE" and record.transitions[-1].note == f"uploaded 3 file(s) to {base}"
    expected = ["results/read/counts.json", "results/read/status.json", "spec.yaml"]
    assert _keys(s3, bucket) == sorted(f"runs/{job_id}/{k}" for k in [*expected, "upload_manifest.json"])
    job_dir = _isolated_home / "jobs" / job_id
    done = json.loads((job_dir / "upload.json").read_text())
    assert done["state"] == "done" and done["uri"] == base and done["excludes"] == ["*.tmp", "results/read/scratch/*", "logs/*"]
    assert done["excluded"] == ["logs/output.log", "results/read/notes.tmp", "results/read/scratch/cache.bin"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"runs/{job_id}/upload_manifest.json")["Body"].read())
    import hashlib

    assert [f["key"] for f in manifest["files"]] == expected
    for f in manifest["files"]:
        body = s3.get_object(Bucket=bucket, Key=f"runs/{job_id}/{f['key']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"] == hashlib.sha256((job_dir / f["key"]).read_bytes()).hexdigest()
    counts = json.loads((job_dir / "results" / "read" / "counts.json").read_text())
    assert counts["sources"][0]["image_dir"] == str(job_dir / "inputs" / "train_data_sources-0" / "images") and counts["sources"][0]["found"] == 6
    assert "[skillrun] uploading 3 file(s)" in (job_dir / "logs" / "output.log").read_text()
    _no_secrets_in(job_dir)


def _delete_bucket_once_running(s3: Any, bucket: str, home: Path) -> threading.Thread:
    def run() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for rec in (home / "jobs").glob("*/job.json") if (home / "jobs").is_dir() else []:
                if json.loads(rec.read_text()).get("state") == "RUNNING":
                    s3.delete_bucket(Bucket=bucket)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_failed_upload_keeps_the_results_and_is_reported(cli: Any, s3: Any, sdg: Any, _isolated_home: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from skillrun.cli import App
    from skillrun.cli.commands.run import upload_cmd

    bucket = _bucket(s3)
    folder = _local_source(tmp_path, sdg)
    thread = _delete_bucket_once_running(s3, bucket, _isolated_home)
    res = cli(*SB, "run", "s3data", "read", f"dataset.train_data_sources=[{folder}]", "read.sleep=1.5", "--upload", f"s3://{bucket}/runs", "--json")
    thread.join()
    assert res.code == 1, res.out + res.err
    doc = res.json()
    job_id = doc["job"]["id"]
    assert doc["message"].startswith(f"job {job_id} is COMPLETE, but the upload to s3://{bucket}/runs/{job_id}/ failed: ")
    assert f"bucket '{bucket}' does not exist" in doc["upload"]["error"] and doc["upload"]["state"] == "failed"
    assert doc["hint"].endswith(f"retry with `skillrun upload {job_id}`")
    job_dir = _isolated_home / "jobs" / job_id
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "COMPLETE" and "FAILED" in record["transitions"][-1]["note"]
    assert (job_dir / "results" / "read" / "counts.json").is_file()
    s3.create_bucket(Bucket=bucket)
    retry = CliRunner().invoke(upload_cmd, [job_id, "--json"], obj=App((str(BANK),), None))
    assert retry.exit_code == 0, retry.output
    assert f"runs/{job_id}/results/read/counts.json" in _keys(s3, bucket)
    assert json.loads((job_dir / "upload.json").read_text())["state"] == "done"


def test_a_bad_upload_target_is_refused_before_anything_is_recorded(cli: Any, s3: Any, sdg: Any, _isolated_home: Path, tmp_path: Path) -> None:
    folder = _local_source(tmp_path, sdg)
    res = cli(*SB, "run", "s3data", "read", f"dataset.train_data_sources=[{folder}]", "--upload", "s3://no-such-bucket-0452/runs", "--json")
    assert res.code == 2 and "bucket 'no-such-bucket-0452' does not exist" in res.json()["message"]
    res = cli(*SB, "run", "s3data", "read", f"dataset.train_data_sources=[{folder}]", "--upload", "/not/s3", "--json")
    assert res.code == 2 and res.json()["message"] == "--upload '/not/s3' is not an s3:// URI"
    assert not (_isolated_home / "jobs").is_dir() or not list((_isolated_home / "jobs").iterdir())


def test_plan_expands_source_prefixes_without_touching_s3() -> None:
    """The control plane stays offline and boto3-free: plan only rewrites the short forms."""
    code = (
        "import json, sys\n"
        "from skillrun.cli import main\n"
        f"rc = main({[*SB, 'plan', 's3data', 'read', 'train_datasets=[s3://b/train]', 'dataset.val_data_sources=s3://b/val/', '--json']!r})\n"
        "rc2 = main(['plan', 'rtdetr', 'inference', 'dataset.infer_data_sources=s3://b/infer', 'inference.checkpoint=s3://b/m.pth', '--json'])\n"
        "print('BOTO3' if 'boto3' in sys.modules else 'NO-BOTO3', rc, rc2, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().endswith("NO-BOTO3 0 0"), proc.stderr
    first, second = _two_json(proc.stdout)
    assert first["spec"]["dataset"]["train_data_sources"] == [{"image_dir": "s3://b/train/images.tar.gz", "json_file": "s3://b/train/annotations.json"}]
    assert first["spec"]["dataset"]["val_data_sources"] == {"image_dir": "s3://b/val/images.tar.gz", "json_file": "s3://b/val/annotations.json"}
    assert second["spec"]["dataset"]["infer_data_sources"] == {"image_dir": ["s3://b/infer/images.tar.gz"], "classmap": "s3://b/infer/label_map.txt"}


def _two_json(text: str) -> tuple[Any, Any]:
    decoder = json.JSONDecoder()
    first, end = decoder.raw_decode(text)
    second, _ = decoder.raw_decode(text[end:].lstrip())
    return first, second
