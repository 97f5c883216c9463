"""The ``slurm`` backend: rendered sbatch scripts, one launcher per node, requeue with resume."""

from skillrun.backends.slurm.backend import SlurmBackend

__all__ = ["SlurmBackend"]
