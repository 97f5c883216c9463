"""What the docker backend runs, as plain data: image candidates, the container configuration, the tag rule.

Kept apart from the Docker SDK so ``plan`` shows the exact run on a machine
without Docker, and a test can compare the configuration field by field. The
configuration follows seed 000's ``docker run``: ``--gpus all --shm-size=16g
--ulimit memlock=-1 --ulimit stack=67108864``, the job folder and the data
mounted (at the same paths, so the spec needs no rewriting), the user's UID,
labels with the job id.

The tag rule of seed 000, as code: start with the first image, fall back to the
next one when the container fails on a driver/CUDA mismatch, and keep the image
that ran for every later job of that lineage (``--parent``).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skillrun.errors import BankError

if TYPE_CHECKING:
    from skillrun.backends.base import LaunchContext
    from skillrun.contracts.job import Launch

VERSIONS_FILE = "references/container_versions.yaml"
LABEL = "skillrun.job_id"

#: what a TAO container prints (or the runtime answers) when the host's driver is too old for its CUDA
_MISMATCH = re.compile(
    r"unsatisfied condition: cuda|cuda driver version is insufficient|cudaErrorInsufficientDriver|"
    r"forward compatibility was attempted on non supported HW|CUDA_ERROR_COMPAT_NOT_SUPPORTED|"
    r"driver/library version mismatch|requires a newer NVIDIA driver|nvidia-container-cli: requirement error",
    re.IGNORECASE,
)


class DockerOptions(BaseModel):
    """``docker:`` in the user config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = Field(default=None, description="use this image for every tao skill (no fallback)")
    gpus: int | Literal["all"] | None = Field(default="all", description="GPUs per container: 'all' (--gpus all), a count, or null for none")
    shm_size: str = Field(default="16g", pattern=r"^\d+[bkmg]?$", description="--shm-size")
    ulimits: dict[str, int] = Field(default_factory=lambda: {"memlock": -1, "stack": 67108864}, description="--ulimit NAME=VALUE (soft = hard)")
    pass_env: list[str] = Field(default_factory=lambda: ["SKILLRUN_KEY", "AWS_*"], description="host variables (glob names) handed to the container at run time")
    mounts: list[str] = Field(default_factory=list, description="extra host folders mounted at the same path (read-only)")
    user: str | None = Field(default="auto", description="'auto' = your uid:gid (results stay yours); null = the image's user")


def image_candidates(ctx: LaunchContext, options: DockerOptions) -> tuple[list[str], str | None]:
    """The images to try, in order, and the lineage job whose image is kept (None: none inherited)."""
    own = ctx.skill.info.actions[ctx.action].container_image
    if own:  # an action with an image of its own (TAO's TensorRT actions run in the deploy image): not the lineage's
        return [own], None
    parent = ctx.parent
    if parent is not None and parent.backend.name == "docker" and parent.backend.ref.get("image"):
        return [parent.backend.ref["image"]], parent.id
    if options.image:
        return [options.image], None
    images = [ctx.skill.info.container_image] if ctx.skill.info.container_image else []
    images += _versions_file(ctx.skill.path)
    images = list(dict.fromkeys(images))
    if not images:
        where = ctx.skill.path / "references" / "skill_info.yaml"
        msg = f"{where}: no container image for {ctx.skill.name} {ctx.action} (container_image is not set or does not resolve, and there is no {VERSIONS_FILE})"
        raise BankError(msg, hint="set container_image in skill_info.yaml, list images in the versions file, or set docker.image in your config file")
    return images, None


def _versions_file(skill_dir: Path) -> list[str]:
    path = skill_dir / VERSIONS_FILE
    if not path.is_file():
        return []
    from skillrun import yamlio

    data = yamlio.load_file(path) or {}
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        msg = f"{path}: images must be a list of image references, got {images!r}"
        raise BankError(msg, hint="images: [registry/name:tag-to-try-first, registry/name:fallback-tag]")
    return images


def mounts(ctx: LaunchContext, options: DockerOptions) -> dict[str, dict[str, str]]:
    """Host folder -> {bind, mode}: the job folder (rw), then the data and input folders the spec names (ro)."""
    out = {str(ctx.job_dir): {"bind": str(ctx.job_dir), "mode": "rw"}}
    action = ctx.skill.info.actions[ctx.action]
    from skillrun.composition import paths

    values: list[Any] = []
    for key in [d.spec_key for d in action.data_sources] + list(action.inputs.values()) + list(action.path_inputs):
        tokens = paths.parse(key)
        if paths.has(ctx.spec, tokens):
            values.append(paths.get(ctx.spec, tokens))
    folders = [*_local_folders(values), *(Path(m) for m in options.mounts)]
    for folder in sorted(set(folders), key=lambda p: (len(p.parts), str(p))):
        if not any(_inside(folder, Path(host)) for host in out):
            out[str(folder)] = {"bind": str(folder), "mode": "ro"}
    return out


def _local_folders(value: Any) -> list[Path]:
    """Folders holding the absolute local paths in ``value`` (nested lists/dicts); s3:// and ??? are skipped."""
    if isinstance(value, dict):
        return [f for v in value.values() for f in _local_folders(v)]
    if isinstance(value, list):
        return [f for v in value for f in _local_folders(v)]
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        return [path if path.is_dir() else path.parent]
    return []


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def container_config(ctx: LaunchContext, launch: Launch, options: DockerOptions, image: str) -> dict[str, Any]:
    """The keyword arguments of ``client.containers.run`` as plain data (no environment: it is added at run time)."""
    config: dict[str, Any] = {
        "image": image,
        "command": list(launch.argv),
        "name": f"skillrun-{ctx.job_id}",
        "detach": True,
        "labels": {LABEL: ctx.job_id, "skillrun.skill": ctx.skill.name, "skillrun.action": ctx.action},
        "shm_size": options.shm_size,
        "ulimits": [{"name": k, "soft": v, "hard": v} for k, v in sorted(options.ulimits.items())],
        "volumes": mounts(ctx, options),
        "working_dir": str(ctx.job_dir),
    }
    if options.gpus is not None:
        config["device_requests"] = [{"driver": "nvidia", "count": -1 if options.gpus == "all" else options.gpus, "capabilities": [["gpu"]]}]
    if options.user == "auto":
        config["user"] = f"{os.getuid()}:{os.getgid()}"
    elif options.user:
        config["user"] = options.user
    return config


def environment(launch_env: dict[str, str], env: dict[str, str], options: DockerOptions) -> dict[str, str]:
    """The container's variables: the job's recorded ones plus the host ones ``pass_env`` names (secrets, never recorded)."""
    passed = {k: v for k, v in env.items() if any(fnmatch.fnmatchcase(k, pat) for pat in options.pass_env)}
    return {**passed, **launch_env}


def sdk_kwargs(config: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """``config`` with the SDK's own types (DeviceRequest, Ulimit) and the environment."""
    from docker.types import DeviceRequest, Ulimit

    kwargs = {k: v for k, v in config.items() if k not in ("device_requests", "ulimits")}
    kwargs["ulimits"] = [Ulimit(**u) for u in config["ulimits"]]
    if "device_requests" in config:
        kwargs["device_requests"] = [DeviceRequest(**d) for d in config["device_requests"]]
    kwargs["environment"] = environment
    return kwargs


def docker_run_line(config: dict[str, Any], env_names: list[str]) -> str:
    """The same run as a ``docker run`` command line (what ``plan`` shows people)."""
    words = ["docker", "run", "-d", "--name", config["name"]]
    for req in config.get("device_requests", []):
        words += ["--gpus", "all" if req["count"] == -1 else str(req["count"])]
    words.append(f"--shm-size={config['shm_size']}")
    for u in config["ulimits"]:
        words += ["--ulimit", f"{u['name']}={u['soft']}" if u["soft"] == u["hard"] else f"{u['name']}={u['soft']}:{u['hard']}"]
    if "user" in config:
        words += ["--user", config["user"]]
    for host, bind in config["volumes"].items():
        words += ["-v", f"{host}:{bind['bind']}:{bind['mode']}"]
    words += ["-w", config["working_dir"]]
    for key, value in config["labels"].items():
        words += ["--label", f"{key}={value}"]
    for name in env_names:
        words += ["-e", name]
    return shlex.join([*words, config["image"], *config["command"]])


def is_driver_mismatch(text: str) -> bool:
    """The container failed because the host's NVIDIA driver does not fit the image's CUDA (seed 000's fallback case)."""
    return bool(_MISMATCH.search(text))
