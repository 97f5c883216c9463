"""The ``docker`` backend: TAO container images (skills whose engine is ``tao``), through the Docker SDK.

``plan`` renders the whole container run as data (:mod:`skillrun.backends.container`):
image and fallback tags, command, mounts, GPU request, shm size, ulimits, user,
labels. ``run`` records it in ``job.json`` (``backend.ref``) and starts a
detached supervisor (:mod:`skillrun.backends.docker_runner`) that runs the
container, relays its output with secrets masked, applies seed 000's tag rule
and records the outcome. ``cancel`` stops the container (SIGTERM, the grace,
SIGKILL) by the id recorded, checked against the job-id label.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from skillrun.backends.base import DEFAULT_GRACE_S, Backend, LaunchContext
from skillrun.backends.container import LABEL, DockerOptions, container_config, docker_run_line, environment, image_candidates
from skillrun.contracts.job import JobRecord, JobState
from skillrun.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from skillrun.contracts.job import Launch



class DockerBackend(Backend):
    """Runs a TAO skill's container command in its image."""

    NAME = "docker"
    HOSTS_COORDINATOR = False  # the image has no skillrun: a study coordinates on the host, its trials run in containers

    @classmethod
    def affinity(cls) -> int:
        return 1 if os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock") else 0  # plan works anywhere

    def options(self) -> DockerOptions:
        from skillrun import userconfig

        return userconfig.section("docker", DockerOptions)[0]

    def check(self, launch: Launch) -> None:
        if launch.nnodes > 1:
            msg = f"the docker backend runs one container on this machine, but the spec asks for {launch.nnodes} nodes"
            raise UsageError(msg, hint="set the nodes key (train.num_nodes) to 1, or use --backend slurm")

    def plan(self, ctx: LaunchContext, launch: Launch) -> dict[str, Any]:
        if ctx.skill.info.engine != "tao":
            msg = f"the docker backend runs TAO container skills (engine: tao); {ctx.skill.name} has engine {ctx.skill.info.engine!r}"
            raise UsageError(msg, hint="use --backend local (or slurm) for this skill")
        options = self.options()
        candidates, lineage = image_candidates(ctx, options)
        config = container_config(ctx, launch, options, candidates[0])
        env_names = sorted(environment(launch.env, dict(os.environ), options))
        return {
            "image": candidates[0],
            "image_candidates": candidates,
            "lineage": lineage,
            "config": config,
            "pass_env": options.pass_env,
            "env_names": env_names,
            "docker_run": docker_run_line(config, env_names),
        }

    def describe(self, plan: dict[str, Any]) -> list[tuple[str, str]]:
        if not plan.get("docker_run"):
            return []
        rest = plan["image_candidates"][1:]
        how = f"kept from {plan['lineage']}" if plan.get("lineage") else (f"falls back to {', '.join(rest)} on a driver/CUDA mismatch" if rest else "no fallback")
        return [(f"container run (image {plan['image']}; {how})", plan["docker_run"])]

    def preflight(self) -> None:
        try:
            import docker

            docker.from_env(timeout=10).ping()
        except ImportError:
            msg = "the docker backend needs the Docker SDK for Python, which is not installed"
            raise BackendUnavailable(msg, hint="pip install 'skillrun[docker]' (or pip install docker)") from None
        except Exception as exc:  # noqa: BLE001 - any failure to reach the daemon means the same to the user
            msg = f"no Docker daemon answers here ({type(exc).__name__}: {str(exc)[:200]})"
            raise BackendUnavailable(msg, hint="start Docker (and the NVIDIA Container Toolkit for GPUs), or set DOCKER_HOST; `docker info` must work") from None

    def submit(self, record: JobRecord, env: dict[str, str]) -> JobRecord:
        from skillrun.backends.local import start_supervisor

        return start_supervisor(self.store, record, env, "skillrun.backends.docker_runner", backend="docker")

    def status(self, record: JobRecord) -> JobRecord:
        from skillrun.backends.local import _owned

        if record.state.terminal or "pid" not in record.backend.ref:
            return record
        if _owned(record.backend.ref):
            return record
        box = self._container(record)
        state = box.status if box is not None else "gone"
        return self.store.move(
            record.id,
            JobState.ERROR,
            by="reconcile",
            error_class="LostProcess",
            error_message=f"the job's docker runner is gone without recording an exit status (container: {state})",
        )

    def cancel(self, record: JobRecord, grace: float = DEFAULT_GRACE_S) -> JobRecord:
        from skillrun.backends.local import _owned, _stop_group

        record = self.store.load(record.id)
        if record.state.terminal:
            return record
        record = self.store.update(record.id, lambda rec: rec.with_ref(cancel_requested=True))
        box = self._container(record)
        if box is not None:
            box.stop(timeout=max(1, round(grace)))  # SIGTERM, the grace, then SIGKILL (docker stop)
            deadline = time.monotonic() + 15
            while not self.store.load(record.id).state.terminal and time.monotonic() < deadline:
                time.sleep(0.1)  # the runner records the end
        elif record.backend.ref.get("pid") and _owned(record.backend.ref):
            _stop_group(record.backend.ref["pgid"], grace)  # still starting (pulling the image)
        return self.store.move(record.id, JobState.CANCELED, by="cancel", note="canceled by request")

    def _container(self, record: JobRecord) -> Any:
        """The job's container (by the recorded id, checked against its job-id label), or None."""
        cid = record.backend.ref.get("container_id")
        if not cid:
            return None
        try:
            import docker

            box = docker.from_env(timeout=10).containers.get(cid)
        except Exception:  # noqa: BLE001 - no daemon or no container: nothing to stop
            return None
        return box if box.labels.get(LABEL) == record.id else None
