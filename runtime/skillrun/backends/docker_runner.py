"""The supervisor of a docker job: ``python -m skillrun.backends.docker_runner JOB_DIR``.

Detached and registered by :func:`skillrun.backends.runner.detach`, as a local
job's runner is, it starts the container through the Docker SDK, copies its
output to ``logs/output.log`` with secrets masked (the runner's relay loop),
waits for it, and records the outcome. The secrets reach the container
as its environment (what ``pass_env`` names), never through a file.

The tag rule of seed 000 runs here: an image whose container fails on a
driver/CUDA mismatch is followed by the next candidate, and the image that ran
is recorded in ``backend.ref.image`` (with every try in ``image_tried``), where
later jobs of the lineage find it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from skillrun.backends import runner
from skillrun.contracts.job import JobRecord, JobState
from skillrun.record.secrets import Redactor
from skillrun.record.store import JobStore

_TAIL = 200


def main(argv: list[str]) -> int:
    return runner.detach(Path(argv[0]), _supervise, "skillrun docker runner")


def _supervise(store: JobStore, record: JobRecord) -> None:
    import docker

    from skillrun.backends import container

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
                store.update(record.id, lambda rec: rec.with_ref(image_tried=tried))
                store.move(record.id, JobState.ERROR, by="runner", error_class="LaunchError", error_message=f"{image}: {why}"[:2000])
                return
            store.update(record.id, lambda rec, b=box, im=image: rec.with_ref(container_id=b.id, image=im, image_tried=tried))
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
    record = store.update(record.id, lambda rec: rec.with_ref(image_tried=tried))
    if record.backend.ref.get("cancel_requested"):
        store.move(record.id, JobState.CANCELED, by="runner", note="stopped by cancel", exit_code=code)
        return
    runner._finish(store, record, code, tail, redact, None)  # noqa: SLF001 - same outcome rules as a local job


def _relay(box: Any, log: Any, redact: Redactor) -> list[bytes]:
    """Copy the container's output to the log, line by line, masked; returns the last lines."""
    return runner.relay_lines(_lines(box.logs(stream=True, follow=True)), log, redact, _TAIL)


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The stream's chunks cut into lines (each ending in a newline, the last one too)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in lines)
    if pending:
        yield pending + b"\n"


def _remove(client: Any, name: str) -> None:
    """A container left by an earlier try of this job (same name) goes first."""
    import docker

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
