"""Spec composition: schema defaults <- template <- spec file <- shorthand/overrides."""

from skillrun.composition.layers import compose

__all__ = ["compose"]
