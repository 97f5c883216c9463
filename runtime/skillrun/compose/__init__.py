"""Spec composition: schema defaults <- template <- spec file <- shorthand/overrides."""

from skillrun.compose.layers import compose

__all__ = ["compose"]
