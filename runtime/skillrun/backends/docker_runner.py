"""The supervisor of a docker job: ``python -m skillrun.backends.docker_runner JOB_DIR``.

Detached like the local runner (double fork + setsid), it starts the container
through the Docker SDK, copies its output to ``logs/output.log`` with secrets
masked, waits for it, and records the outcome. The secrets reach the container
as its environment (what ``pass_env`` names), never through a file.

The tag rule of seed 000 runs here: an image whose container fails on a
driver/CUDA mismatch is followed by the next candidate, and the image that ran
is recorded in ``backend.ref.image`` (with every try in ``image_tried``), where
later jobs of the lineage find it.
"""

from __future__ import annotations

import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from skillrun.contracts.job import JobRecord, JobState
from skillrun.record.secrets import Redactor
from skillrun.record.store import JobStore

_TAIL = 200


def main(argv: list[str]) -> int:
    from skillrun.backends import runner

    job_dir = Path(argv[0]).resolve()
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:  # wait until the detached supervisor has registered itself
        os.close(write_fd)
        return 0 if os.read(read_fd, 1) == b"1" else 1
    os.close(read_fd)
    os.setsid()
    store = JobStore(job_dir.parent.parent)
    job_id = job_dir.name
    try:
        record = _register(store, job_id)
    except Exception as exc:  # nothing started: tell the submitter through the exit status
        os.write(2, f"skillrun docker runner: {exc}\n".encode())
        os.write(write_fd, b"0")
        os._exit(1)
    os.write(write_fd, b"1")
    os.close(write_fd)
    runner._redirect_std(store.job_dir(job_id) / "logs" / "runner.log")  # noqa: SLF001 - same diagnostics file as a local job
    try:
        _supervise(store, record)
    except Exception:
        traceback.print_exc()
        store.move(job_id, JobState.ERROR, by="runner", error_class="RunnerError", error_message="the skillrun docker runner failed; see logs/runner.log")
    os._exit(0)


def _register(store: JobStore, job_id: str) -> JobRecord:
    import psutil

    me = psutil.Process()
    mine = {"pid": me.pid, "pgid": os.getpgid(0), "create_time": me.create_time(), "host": socket.gethostname()}

    def change(rec: JobRecord) -> JobRecord | None:
        if rec.state is not JobState.PENDING:
            msg = f"job {job_id} is {rec.state.value}, not PENDING"
            raise RuntimeError(msg)
        return _with_ref(rec, mine)

    return store.update(job_id, change)


def _with_ref(rec: JobRecord, extra: dict[str, Any]) -> JobRecord:
    return rec.model_copy(update={"backend": rec.backend.model_copy(update={"ref": {**rec.backend.ref, **extra}})})


def _supervise(store: JobStore, record: JobRecord) -> None:
    import docker

    from skillrun.backends import container, runner

    plan = record.backend.ref
    options = container.DockerOptions(pass_env=plan.get("pass_env", ["SKILLRUN_KEY"]))
    env = container.environment(record.launch.env, dict(os.environ), options)
    redact = Redactor()
    client = docker.from_env()
    tried: list[dict[str, str]] = []
    code, tail = 1, [b""]
    with open(store.log_file(record.id), "ab", buffering=0) as log:

        def say(text: str) -> None:
            log.write(redact.bytes(f"[skillrun] {text}\n".encode()))

        candidates = list(plan["image_candidates"])
        for i, image in enumerate(candidates):
            more = i + 1 < len(candidates)
            config = {**plan["config"], "image": image}
            say(f"{record.id}: {container.docker_run_line(config, sorted(env))}")
            _remove(client, config["name"])
            try:
                box = client.containers.run(**container.sdk_kwargs(config, env))
            except docker.errors.DockerException as exc:
                why = redact.text(str(exc))
                tried.append({"image": image, "outcome": f"did not start: {why[:300]}"})
                say(f"{image} did not start: {why}")
                if more and container.is_driver_mismatch(why):
                    say(f"driver/CUDA mismatch: falling back to {candidates[i + 1]} (seed 000's tag rule)")
                    continue
                store.update(record.id, lambda rec: _with_ref(rec, {"image_tried": tried}))
                store.move(record.id, JobState.ERROR, by="runner", error_class="LaunchError", error_message=f"{image}: {why}"[:2000])
                return
            store.update(record.id, lambda rec, b=box, im=image: _with_ref(rec, {"container_id": b.id, "image": im, "image_tried": tried}))
            store.move(record.id, JobState.RUNNING, by="runner", note=f"container {box.short_id} from {image}", only_from={JobState.PENDING})
            tail = _relay(box, log, redact)
            code = int(box.wait().get("StatusCode", 1))
            canceled = bool(store.load(record.id).backend.ref.get("cancel_requested"))
            if code != 0 and not canceled and more and container.is_driver_mismatch(b"".join(tail).decode(errors="replace")):
                tried.append({"image": image, "outcome": f"exit {code}: driver/CUDA mismatch"})
                say(f"{image} failed on a driver/CUDA mismatch (exit {code}): falling back to {candidates[i + 1]} (seed 000's tag rule)")
                continue
            tried.append({"image": image, "outcome": f"exit {code}"})
            break
        say(f"exit code {code}")
    record = store.update(record.id, lambda rec: _with_ref(rec, {"image_tried": tried}))
    if record.backend.ref.get("cancel_requested"):
        store.move(record.id, JobState.CANCELED, by="runner", note="stopped by cancel", exit_code=code)
        return
    runner._finish(store, record, code, tail, redact, None)  # noqa: SLF001 - same outcome rules as a local job


def _relay(box: Any, log: Any, redact: Redactor) -> list[bytes]:
    """Copy the container's output to the log, line by line, masked; returns the last lines."""
    tail: list[bytes] = []
    pending = b""
    write: Callable[[bytes], None] = log.write
    for chunk in box.logs(stream=True, follow=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            masked = redact.bytes(line + b"\n")
            write(masked)
            tail = [*tail[-(_TAIL - 1) :], masked]
    if pending:
        write(redact.bytes(pending + b"\n"))
        tail.append(redact.bytes(pending))
    return tail


def _remove(client: Any, name: str) -> None:
    """A container left by an earlier try of this job (same name) goes first."""
    import docker

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
