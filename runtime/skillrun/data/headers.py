"""Image headers (size and mode) of many files at once, without decoding pixels.

Why: a dataset check must open every image, and 20 000 full decodes take minutes while
20 000 header reads take seconds. Pillow is imported on first use, so modules that only
import this one stay loadable without it.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

Header = tuple[str, str, int, int]  #: (status: ok | missing | unreadable, mode or reason, width, height)


PROBE = 256  #: files read one by one first, to see whether threads would pay off
SLOW_S = 200e-6  #: seconds per header above which the rest is read in threads


def read_headers(paths: Sequence[str], *, workers: int = 8, decode: bool = False) -> list[Header]:
    """``(status, mode or reason, width, height)`` per path, in order; status is ok, missing or unreadable.

    A header read from a warm local disk is ~40 us of Python under the GIL, where threads only
    add contention; from cold or network storage it is mostly waiting, which threads overlap.
    So the first :data:`PROBE` files are read in this thread and timed, and the rest goes to a
    pool only when that was slow (or when decoding, which releases the GIL), in chunks so
    20 000 files are not 20 000 futures.
    """
    from PIL import Image

    Image.preinit()  # load the common format plugins now, not inside the timed probe
    start = time.perf_counter()
    head = [_header(p, decode) for p in paths[:PROBE]]
    rest = paths[PROBE:]
    slow = (time.perf_counter() - start) / max(1, len(head)) > SLOW_S
    if workers <= 1 or not rest or not (slow or decode):
        return head + [_header(p, decode) for p in rest]
    size = max(16, math.ceil(len(rest) / (workers * 4)))
    chunks = [rest[i : i + size] for i in range(0, len(rest), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(lambda chunk: [_header(p, decode) for p in chunk], chunks)
        return head + [h for part in parts for h in part]


def _header(path: str, decode: bool) -> Header:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if decode:
                im.load()
            return "ok", im.mode, im.width, im.height
    except (FileNotFoundError, NotADirectoryError):
        return "missing", "", 0, 0
    except Image.DecompressionBombError:
        return "unreadable", "too many pixels to decode safely", 0, 0
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).replace(path, "").strip(" :'\"") or type(exc).__name__
        return "unreadable", reason[:80], 0, 0
