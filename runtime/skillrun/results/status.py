"""Writing ``status.json``: the event stream engines append and the runtime reads.

One JSON object per line, each written with a single ``O_APPEND`` write so a
reader never sees two events interleaved; a reader may see a torn last line
and skips it (:func:`skillrun.results.summary.read_status`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from skillrun.contracts.results import STATUS_FILE, StatusEvent


class StatusWriter:
    """Appends :class:`StatusEvent` lines to ``<folder>/status.json`` (only rank 0 should write)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / STATUS_FILE

    def write(self, status: str = "RUNNING", message: str | None = None, **fields: Any) -> StatusEvent:
        event = StatusEvent(date=time.strftime("%m/%d/%Y"), time=time.strftime("%H:%M:%S"), status=status, message=message, **fields)  # type: ignore[arg-type]
        line = (event.model_dump_json(exclude_none=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return event
