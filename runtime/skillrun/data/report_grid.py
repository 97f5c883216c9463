"""``samples.png`` of dataset-validate: a grid of sample images with their boxes and class names.

Why: counts say a dataset is consistent; only a picture shows that the boxes sit on the
objects (xyxy-vs-xywh and normalised-box mistakes pass every count). Images with box
problems are shown first, then a seeded random choice of the rest. Pillow only.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from skillrun.data.checks import SourceCheck

PALETTE = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167), (170, 255, 195), (255, 215, 180), (145, 30, 180))
BAD = (255, 40, 40)  #: outline of a box with a problem (zero size, outside or past the border)
BACKGROUND = (24, 24, 24)


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of a near-square grid holding ``n`` tiles."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return cols, max(1, math.ceil(n / cols))


def pick(checked: list[SourceCheck], count: int, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``count`` readable images as (source, image position): flagged ones first, then random."""
    flagged: list[tuple[int, int]] = []
    rest: list[tuple[int, int]] = []
    for s, c in enumerate(checked):
        if c.images is None or c.annotations is None:
            continue
        bad = {pos for k, pos in enumerate(c.annotations.image) if pos >= 0 and _problem(c, k)}
        for pos in c.images.mode:  # only images whose header was read
            (flagged if pos in bad else rest).append((s, pos))
    random.Random(seed).shuffle(rest)
    take = flagged[: max(count // 2, 1)] if rest else flagged
    return (take + rest)[:count] if count > 0 else []


def _problem(c: SourceCheck, k: int) -> bool:
    """Box ``k`` is unusable or reaches more than 1 px (the default tolerance) past its image."""
    a, im = c.annotations, c.images
    if a is None or im is None:
        return False
    if not a.usable(k):
        return True
    pos = a.image[k]
    iw, ih = im.width[pos], im.height[pos]
    return iw == iw and ih == ih and (a.x[k] < -1 or a.y[k] < -1 or a.x[k] + a.w[k] > iw + 1 or a.y[k] + a.h[k] > ih + 1)


def draw_samples(checked: list[SourceCheck], out_file: Path, *, count: int = 16, cell: int = 256, seed: int = 0) -> tuple[int, int] | None:
    """Write the grid to ``out_file``; returns its (width, height), or None when no image could be read."""
    from PIL import Image

    picks = pick(checked, count, seed)
    if not picks:
        return None
    cols, rows = grid_shape(len(picks))
    grid = Image.new("RGB", (cols * cell, rows * cell), BACKGROUND)
    font = _font(max(10, cell // 22))
    for i, (s, pos) in enumerate(picks):
        tile = _tile(checked[s], pos, cell, font)
        grid.paste(tile, ((i % cols) * cell, (i // cols) * cell))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out_file, format="PNG")
    return grid.size


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _tile(c: SourceCheck, pos: int, cell: int, font: Any) -> Any:
    """One image scaled into a ``cell`` square, boxes and class names drawn, file name underneath."""
    from PIL import Image, ImageDraw

    tile = Image.new("RGB", (cell, cell), BACKGROUND)
    draw = ImageDraw.Draw(tile)
    im_cols, anns = c.images, c.annotations
    if im_cols is None or anns is None:
        return tile
    caption = max(12, cell // 14)
    name = im_cols.files[pos]
    try:
        with Image.open(Path(c.report.image_dir or ".") / name) as src:
            width, height = src.size  # boxes are in these pixels, whatever draft() decodes
            src.draft("RGB", (cell, cell))  # JPEG: decode at a reduced scale, much faster for big photos
            img = src.convert("RGB")
    except (OSError, ValueError):
        draw.text((4, cell // 2), f"cannot read {name}", fill=BAD, font=font)
        return tile
    scale = min(cell / width, (cell - caption) / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    ox, oy = (cell - size[0]) // 2, (cell - caption - size[1]) // 2
    tile.paste(img.resize(size), (ox, oy))
    colours = {cid: PALETTE[i % len(PALETTE)] for i, cid in enumerate(sorted(c.categories))}
    n = 0
    for k, p in enumerate(anns.image):
        if p != pos:
            continue
        n += 1
        x, y, w, h = anns.x[k], anns.y[k], anns.w[k], anns.h[k]
        if w != w:  # no usable coordinates: counted in the caption, nothing to draw
            continue
        x0, y0 = ox + x * scale, oy + y * scale
        x1, y1 = ox + (x + max(w, 0.0)) * scale, oy + (y + max(h, 0.0)) * scale
        cat = anns.cat[k]
        colour = BAD if _problem(c, k) or cat is None else colours[cat]
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        label = "unknown class" if cat is None else c.categories[cat]
        _, _, tw, th = draw.textbbox((0, 0), label, font=font)
        ty = y0 - th - 2 if y0 - th - 2 >= 0 else y0
        draw.rectangle([x0, ty, x0 + tw + 4, ty + th + 2], fill=colour)
        draw.text((x0 + 2, ty + 1), label, fill=(0, 0, 0), font=font)
    text = f"{name}  ({n} box{'es' if n != 1 else ''})"
    draw.text((4, cell - caption + 1), text if len(text) <= cell // 6 else "..." + text[-(cell // 6) :], fill=(220, 220, 220), font=font)
    return tile
