"""Safe extraction of dataset archives (``.tar``, ``.tar.gz``/``.tgz``, ``.zip``).

Every member is checked before anything is written: an absolute name, a ``..``
step, a link (symbolic or hard), a device or FIFO refuses the whole archive with
an error naming the archive and the member. Accepted archives are extracted
into a temporary sibling folder and renamed into place, so the target is either
complete or absent. tar extraction also passes ``filter="data"`` (PEP 706); the
own checks stay because Python 3.11.7 predates the CVE-2025-4517 fix of that
filter (PITFALLS §6).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from skillrun.errors import UsageError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_HINT = "rebuild the archive with relative member names and no links, e.g. `tar -czf images.tar.gz -C images .`"


def is_archive(name: str) -> bool:
    """True for a file name skillrun extracts (by suffix, case-insensitive)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def strip_suffix(name: str) -> str:
    """``images.tar.gz`` -> ``images``; other names unchanged."""
    low = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if low.endswith(suffix):
            return name[: -len(suffix)] or name
    return name


class UnsafeArchive(UsageError):
    """An archive member that would land outside the target, or is not a plain file or folder."""

    def __init__(self, archive: Path | str, member: str, why: str) -> None:
        msg = f"{archive}: refusing to extract member {member!r}: {why}; nothing was extracted"
        super().__init__(msg, hint=_HINT, data={"archive": str(archive), "member": member})
        self.archive = str(archive)
        self.member = member


def check_name(archive: Path | str, name: str) -> str:
    """The member name as a safe relative POSIX path, or :class:`UnsafeArchive`."""
    if not name or "\x00" in name:
        raise UnsafeArchive(archive, name, "empty name or NUL byte")
    posix = name.replace("\\", "/")  # a Windows-made zip may use backslashes
    if posix.startswith("/") or PurePosixPath(posix).is_absolute() or (len(posix) > 1 and posix[1] == ":"):
        raise UnsafeArchive(archive, name, "absolute path")
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(archive, name, "'..' in the path")
    return "/".join(parts)


def _inside(root: Path, rel: str, archive: Path | str, name: str) -> None:
    """Belt and braces: the normalised destination must stay under ``root``."""
    dest = os.path.normpath(os.path.join(root, rel))
    if rel and os.path.commonpath([str(root), dest]) != str(root):
        raise UnsafeArchive(archive, name, "resolves outside the target folder")


def _check_tar(archive: str, tar: tarfile.TarFile, root: Path) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        rel = check_name(archive, m.name)
        if m.issym() or m.islnk():
            raise UnsafeArchive(archive, m.name, f"{'symbolic' if m.issym() else 'hard'} link to {m.linkname!r}")
        if not (m.isreg() or m.isdir()):
            raise UnsafeArchive(archive, m.name, "not a regular file or folder (device, FIFO or special entry)")
        _inside(root, rel, archive, m.name)
        if not rel:  # "./" itself
            continue
        members.append(m)
    return members


def _extract_tar(path: Path, root: Path, archive: str) -> int:
    try:
        with tarfile.open(path, "r:*") as tar:
            members = _check_tar(archive, tar, root)
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):  # the stdlib filter caught something our checks missed
            raise UnsafeArchive(archive, getattr(exc, "tarinfo", tarfile.TarInfo("?")).name, str(exc)) from None
        why = "truncated, or not a tar/gzip file" if isinstance(exc, tarfile.ReadError) else " ".join(str(exc).split())
        msg = f"{archive}: not a readable tar archive ({why})"
        raise UsageError(msg, hint="check that the upload finished and the file is a .tar, .tar.gz or .tgz", data={"archive": archive}) from None
    return sum(1 for m in members if m.isreg())


def _extract_zip(path: Path, root: Path, archive: str) -> int:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            plan: list[tuple[zipfile.ZipInfo, str]] = []
            for info in infos:
                rel = check_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchive(archive, info.filename, "symbolic link")
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # many zips store permission bits only
                    raise UnsafeArchive(archive, info.filename, "not a regular file or folder")
                _inside(root, rel, archive, info.filename)
                plan.append((info, rel))
            files = 0
            for info, rel in plan:  # written by hand: ZipFile.extract silently rewrites bad names instead of refusing
                if not rel:
                    continue
                dest = root / rel
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                files += 1
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        msg = f"{archive}: not a readable zip archive ({exc})"
        raise UsageError(msg, hint="check that the upload finished and the file is a valid .zip", data={"archive": archive}) from None
    return files


def extract(archive: Path | str, target: Path | str, *, label: str | None = None) -> int:
    """Extract ``archive`` into the new folder ``target``; returns the number of files.

    Raises :class:`UnsafeArchive` (nothing written) for a member that could
    escape, and UsageError for an unreadable archive or an existing target.
    Messages name ``label`` (e.g. the s3:// URI it was downloaded from) or the path.
    """
    archive, target = Path(archive), Path(target)
    shown = label or str(archive)
    if target.exists():
        msg = f"{target}: already exists; not extracting {archive.name} over it"
        raise UsageError(msg, hint="remove the folder, or point at it directly instead of at the archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")).resolve()
    try:
        zipped = (label or archive.name).lower().endswith(".zip")
        count = _extract_zip(archive, tmp, shown) if zipped else _extract_tar(archive, tmp, shown)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count
