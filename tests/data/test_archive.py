"""Safe extraction: hostile tar and zip members are refused with nothing written anywhere."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from skillrun.data.archive import UnsafeArchive, extract, is_archive, strip_suffix
from skillrun.errors import UsageError


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
            else:
                tar.addfile(m)
    return path


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _zip(path: Path, members: list[tuple[str, bytes] | zipfile.ZipInfo]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for m in members:
            if isinstance(m, zipfile.ZipInfo):
                zf.writestr(m, b"/etc/passwd")
            else:
                zf.writestr(m[0], m[1])
    return path


def _nothing_written(root: Path, archive: Path) -> None:
    """Only the archive itself is left under ``root``: no target, no temp folder, no escaped file."""
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [archive.relative_to(root).as_posix()]


def test_suffixes() -> None:
    assert [is_archive(n) for n in ("images.tar.gz", "a.TGZ", "b.tar", "c.zip", "annotations.json", "x.gz")] == [True, True, True, True, False, False]
    assert [strip_suffix(n) for n in ("images.tar.gz", "imgs.tgz", "b.tar", "c.zip", "d.json")] == ["images", "imgs", "b", "c", "d.json"]


@pytest.mark.parametrize("mode, name", [("w:gz", "images.tar.gz"), ("w", "images.tar"), ("w:gz", "images.tgz")])
def test_a_plain_tar_is_extracted(tmp_path: Path, mode: str, name: str) -> None:
    archive = _tar(tmp_path / name, [("images/0001.png", b"png1"), ("./images/sub/0002.png", b"png2"), _special("images/empty", tarfile.DIRTYPE)], mode)
    assert extract(archive, tmp_path / "out") == 2
    assert (tmp_path / "out" / "images" / "0001.png").read_bytes() == b"png1"
    assert (tmp_path / "out" / "images" / "sub" / "0002.png").read_bytes() == b"png2"
    assert (tmp_path / "out" / "images" / "empty").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", name])  # no temp folder left


def test_a_plain_zip_is_extracted(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "images.zip", [("images/", b""), ("images/0001.png", b"png1")])
    assert extract(archive, tmp_path / "out") == 1
    assert (tmp_path / "out" / "images" / "0001.png").read_bytes() == b"png1"


HOSTILE_TAR = {
    "dotdot": (("../escape.txt", b"x"), "'..' in the path"),
    "nested-dotdot": (("images/../../escape.txt", b"x"), "'..' in the path"),
    "absolute": (("/tmp/skillrun-escape.txt", b"x"), "absolute path"),
    "symlink": (_special("images/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link to '/etc/passwd'"),
    "relative-symlink": (_special("images/up", tarfile.SYMTYPE, "../.."), "symbolic link"),
    "hardlink": (_special("images/hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    "chardev": (_special("images/dev", tarfile.CHRTYPE), "device, FIFO"),
    "fifo": (_special("images/pipe", tarfile.FIFOTYPE), "device, FIFO"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TAR))
def test_a_hostile_tar_member_refuses_the_whole_archive(tmp_path: Path, case: str) -> None:
    member, why = HOSTILE_TAR[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(work / "images.tar.gz", [("images/0001.png", b"good"), member, ("images/0002.png", b"good")])
    with pytest.raises(UnsafeArchive) as err:
        extract(archive, work / "deep" / "out")
    name = member[0] if isinstance(member, tuple) else member.name
    assert err.value.member == name and err.value.archive == str(archive)
    assert str(archive) in err.value.message and repr(name) in err.value.message and why in err.value.message
    assert "nothing was extracted" in err.value.message and err.value.hint and err.value.exit_code == 2
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*")) == ["deep", "images.tar.gz"]  # not even the good member
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/skillrun-escape.txt").exists()


def test_the_label_names_where_the_archive_came_from(tmp_path: Path) -> None:
    archive = _tar(tmp_path / ".images.tar.gz", [("../escape.txt", b"x")])
    with pytest.raises(UnsafeArchive, match=r"^s3://bucket/train/images\.tar\.gz: refusing to extract member '\.\./escape\.txt'"):
        extract(archive, tmp_path / "images", label="s3://bucket/train/images.tar.gz")


def _zip_symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


HOSTILE_ZIP = {
    "dotdot": (("../escape.txt", b"x"), "'..' in the path"),
    "backslash-dotdot": (("images\\..\\..\\escape.txt", b"x"), "'..' in the path"),
    "absolute": (("/tmp/skillrun-escape.txt", b"x"), "absolute path"),
    "drive": (("C:/escape.txt", b"x"), "absolute path"),
    "symlink": (_zip_symlink("images/link"), "symbolic link"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIP))
def test_a_hostile_zip_member_refuses_the_whole_archive(tmp_path: Path, case: str) -> None:
    member, why = HOSTILE_ZIP[case]
    archive = _zip(tmp_path / "images.zip", [("images/0001.png", b"good"), member])
    with pytest.raises(UnsafeArchive, match=why) as err:
        extract(archive, tmp_path / "out")
    assert err.value.member == (member[0] if isinstance(member, tuple) else member.filename)
    _nothing_written(tmp_path, archive)
    assert not Path("/tmp/skillrun-escape.txt").exists()


@pytest.mark.parametrize("name", ["images.tar.gz", "images.zip"])
def test_a_corrupt_archive_is_a_clear_error(tmp_path: Path, name: str) -> None:
    archive = tmp_path / name
    archive.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(UsageError, match=f"{name}: not a readable") as err:
        extract(archive, tmp_path / "out")
    assert not isinstance(err.value, UnsafeArchive) and err.value.hint
    _nothing_written(tmp_path, archive)


def test_an_existing_target_is_never_overwritten(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "images.tar.gz", [("0001.png", b"new")])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "0001.png").write_bytes(b"old")
    with pytest.raises(UsageError, match="already exists"):
        extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "0001.png").read_bytes() == b"old"
