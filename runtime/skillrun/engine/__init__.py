"""Engines: what runs inside a job. ``python -m skillrun.engine`` is the builtin one; ``script`` runs a skill's own scripts."""
