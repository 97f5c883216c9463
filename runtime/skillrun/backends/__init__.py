"""Backends: where a job runs (local process group / torchrun; slurm and docker later)."""
