"""The user config file: per-machine defaults (a cluster's partition, a container's shm size) that no spec should carry.

One YAML file, one top-level section per backend (``slurm:``, ``docker:``), each
checked by that backend's pydantic model; :func:`skillrun.settings.config_files`
says where it is looked for. A bad file is a :class:`UsageError` naming the
file, the dotted key, the bad value and what is allowed, raised before anything
is written or launched.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from skillrun import settings
from skillrun.errors import UsageError

M = TypeVar("M", bound=BaseModel)

EXAMPLE_HINT = "see references/backends.md, 'The user config file'"


def config_file() -> Path | None:
    """The config file in effect, or None; a ``$SKILLRUN_CONFIG`` that does not exist is an error."""
    files = settings.config_files()
    for path in files:
        if path.is_file():
            return path
    if settings.SKILLRUN_CONFIG in os.environ:
        msg = f"${settings.SKILLRUN_CONFIG} names {files[0]}, which is not a file"
        raise UsageError(msg, hint=f"create it, or unset {settings.SKILLRUN_CONFIG}; {EXAMPLE_HINT}")
    return None


def read() -> tuple[dict[str, Any], Path | None]:
    """The whole file as a mapping (empty when there is no file)."""
    from skillrun import yamlio

    path = config_file()
    if path is None:
        return {}, None
    try:
        data = yamlio.load_file(path)
    except Exception as exc:  # noqa: BLE001 - a YAML syntax error, shown with its location
        msg = f"{path}: not valid YAML ({yamlio.error_location(exc, path)})"
        raise UsageError(msg, hint=EXAMPLE_HINT) from None
    if data is None:
        return {}, path
    if not isinstance(data, dict):
        msg = f"{path}: the top level must be a mapping of sections (slurm:, docker:), got {type(data).__name__}"
        raise UsageError(msg, hint=EXAMPLE_HINT)
    return data, path


def section(name: str, model: type[M]) -> tuple[M, Path | None]:
    """The ``name:`` section of the config file checked by ``model`` (its defaults when absent)."""
    data, path = read()
    raw = data.get(name) or {}
    where = str(path) if path else "(defaults)"
    if not isinstance(raw, dict):
        msg = f"{where}: {name} must be a mapping, got {raw!r}"
        raise UsageError(msg, hint=EXAMPLE_HINT)
    try:
        return model.model_validate(raw), path
    except ValidationError as exc:
        raise _error(exc, name, model, where) from None


def _error(exc: ValidationError, name: str, model: type[BaseModel], where: str) -> UsageError:
    """Every problem of the section, each as ``dotted.key: bad value -> what is allowed``."""
    allowed = sorted(model.model_fields)
    lines, first_hint = [], None
    for err in exc.errors():
        key = ".".join([name, *(str(p) for p in err["loc"])])
        if err["type"] == "extra_forbidden":
            word = str(err["loc"][-1])
            close = difflib.get_close_matches(word, allowed, n=1)
            lines.append(f"{key}: unknown key" + (f" (did you mean {name}.{close[0]}?)" if close else ""))
            first_hint = first_hint or f"allowed keys of {name}: {', '.join(allowed)}"
        else:
            lines.append(f"{key}: {err['input']!r} is not allowed: {err['msg'].removeprefix('Value error, ')}")
            field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
            if field is not None and field.description:
                first_hint = first_hint or f"{name}.{err['loc'][0]}: {field.description}"
    msg = f"{where}: {len(lines)} problem{'s' if len(lines) != 1 else ''} in the {name} section: " + "; ".join(lines)
    return UsageError(msg, hint=first_hint or EXAMPLE_HINT, data={"config_file": where, "section": name})
