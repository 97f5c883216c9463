"""COCO category ids <-> the contiguous 0..K-1 labels RT-DETR trains on.

Why: Hugging Face's RT-DETR loss needs ``class_labels`` in 0..num_labels-1 and raises
``IndexError`` on anything else, while COCO files (Isaac Sim Replicator ones especially)
use sparse ids such as 201/305/412. One ``ClassMap`` is built from the annotations
(several sources are merged by id), stored in checkpoints and ONNX sidecars, and used
to map predictions back to the category ids the ground truth uses — a model label
compared against a raw category id silently gives AP = 0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

_ID_LINE = re.compile(r"^(\d+)\s+(\S.*)$")


@dataclass(frozen=True)
class ClassMap:
    """Sorted COCO category ids and their names; position in the tuple = model label."""

    category_ids: tuple[int, ...]
    names: tuple[str, ...]
    _index: dict[int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        ids, names = tuple(self.category_ids), tuple(str(n) for n in self.names)
        if not ids:
            raise ValueError("a class map needs at least one category")
        if len(ids) != len(names):
            raise ValueError(f"class map has {len(ids)} category ids but {len(names)} names")
        if any(not isinstance(i, int) or isinstance(i, bool) for i in ids):
            raise ValueError(f"category ids must be integers, got {list(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate category ids in class map: {list(ids)}")
        if list(ids) != sorted(ids):
            raise ValueError(f"category ids must be sorted, got {list(ids)}")
        object.__setattr__(self, "category_ids", ids)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(ids)})

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_categories(cls, categories: Mapping[int, str]) -> ClassMap:
        """From ``{category_id: name}`` in any order."""
        items = sorted(categories.items())
        return cls(tuple(c for c, _ in items), tuple(n for _, n in items))

    @classmethod
    def from_coco(cls, json_files: Sequence[str | Path]) -> ClassMap:
        """Union of the ``categories`` of every COCO file, sorted by id.

        The same id named differently in two files is an error that names both files:
        merging them silently would train one class on two kinds of object.
        """
        if not json_files:
            raise ValueError("no COCO annotation files given to build the class map from")
        seen: dict[int, tuple[str, Path]] = {}
        for raw in json_files:
            path = Path(raw)
            for cat_id, name in _read_categories(path).items():
                if cat_id in seen and seen[cat_id][0] != name:
                    other_name, other = seen[cat_id]
                    raise ValueError(
                        f"category id {cat_id} is {other_name!r} in {other} but {name!r} in {path}; "
                        "give the same category the same id and name in every source"
                    )
                seen.setdefault(cat_id, (name, path))
        return cls.from_categories({c: n for c, (n, _) in seen.items()})

    @classmethod
    def from_label_map(cls, path: str | Path) -> ClassMap:
        """Read a label_map.txt: one class name per line (ids 0..n-1), or ``id name`` lines.

        Ids are used only when every non-blank line starts with an integer and a name;
        otherwise each whole line is a name (so a name like ``3 wheeler`` in a names-only
        file stays intact as long as one line has no leading number).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read label map {p}: {exc}") from exc
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"label map {p} is empty: write one class name per line")
        matches = [_ID_LINE.match(ln) for ln in lines]
        if all(matches):
            pairs = [(int(m.group(1)), m.group(2).strip()) for m in matches if m]
        else:
            pairs = list(enumerate(lines))
        ids = [c for c, _ in pairs]
        if len(set(ids)) != len(ids):
            dup = sorted({c for c in ids if ids.count(c) > 1})
            raise ValueError(f"label map {p} repeats category ids {dup}")
        return cls.from_categories(dict(pairs))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassMap:
        """Inverse of ``to_dict`` (checkpoint / ONNX sidecar payload)."""
        try:
            ids = [int(c) for c in data["category_ids"]]
            names = [str(n) for n in data["names"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a class map payload (need 'category_ids' and 'names'): {exc}") from exc
        return cls(tuple(ids), tuple(names))

    # -- lookups ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.category_ids)

    def __contains__(self, cat_id: object) -> bool:
        return cat_id in self._index

    def index(self, cat_id: int) -> int:
        """Model label (0..K-1) of a COCO category id."""
        try:
            return self._index[int(cat_id)]
        except (KeyError, TypeError, ValueError):
            raise KeyError(f"category id {cat_id!r} is not in the class map (ids {list(self.category_ids)})") from None

    def category(self, index: int) -> int:
        """COCO category id of a model label."""
        i = int(index)
        if not 0 <= i < len(self.category_ids):
            raise IndexError(f"label {index} is outside 0..{len(self.category_ids) - 1}")
        return self.category_ids[i]

    def name(self, index: int) -> str:
        """Class name of a model label."""
        self.category(index)  # bounds check with a clear message
        return self.names[int(index)]

    def id2label(self) -> dict[int, str]:
        """``{label: name}`` for ``RTDetrConfig.id2label``."""
        return dict(enumerate(self.names))

    def label2id(self) -> dict[str, int]:
        """``{name: label}`` for ``RTDetrConfig.label2id`` (a repeated name keeps its first label)."""
        out: dict[str, int] = {}
        for i, n in enumerate(self.names):
            out.setdefault(n, i)
        return out

    def categories(self) -> list[dict[str, Any]]:
        """COCO ``categories`` list (for writing predictions / ground truth)."""
        return [{"id": c, "name": n} for c, n in zip(self.category_ids, self.names)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe payload; ``from_dict`` restores it."""
        return {"category_ids": list(self.category_ids), "names": list(self.names)}


def _read_categories(path: Path) -> dict[int, str]:
    """``{id: name}`` of one COCO file; ValueError (naming the file) when there are none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read COCO annotations {path}: {exc}") from exc
    cats = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(cats, list) or not cats:
        raise ValueError(f"{path} defines no categories: add a 'categories' list with id and name")
    out: dict[int, str] = {}
    for c in cats:
        cid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise ValueError(f"{path}: category ids must be integers, got {cid!r}")
        name = str(c.get("name", cid))
        if cid in out and out[cid] != name:
            raise ValueError(f"{path}: category id {cid} is listed twice, as {out[cid]!r} and {name!r}")
        out[cid] = name
    return out
