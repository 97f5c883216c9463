"""Registers the backends shipped with skillrun, through the same hook a third party uses."""

from __future__ import annotations

from typing import Any, Callable

from skillrun.plugins import hookimpl


@hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    from skillrun.backends.docker import DockerBackend
    from skillrun.backends.local import LocalBackend
    from skillrun.backends.slurm import SlurmBackend

    register(LocalBackend)
    register(SlurmBackend)
    register(DockerBackend)
