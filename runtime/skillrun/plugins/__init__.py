"""Plugin hooks (pluggy, project name and entry-point group ``skillrun``)."""

from skillrun.plugins.hookspecs import hookimpl

__all__ = ["hookimpl"]
