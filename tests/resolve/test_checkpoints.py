"""Parent checkpoint selection: best, latest, epoch=N, and checkpoints still being written."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from skillrun.contracts.results import LATEST_LINK, STATUS_FILE, checkpoint_name
from skillrun.errors import ResolutionError, UsageError
from skillrun.resolve.checkpoints import (
    Checkpoint,
    Selector,
    list_checkpoints,
    newest_checkpoint,
    read_status,
    select_checkpoint,
)

BEST = Selector("best")
LATEST = Selector("latest")


def zip_bytes(tag: str = "weights") -> bytes:
    """A small real zip archive with one member, like what ``torch.save`` writes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", tag * 200)
    return buf.getvalue()


def save(folder: Path, epoch: int | str, data: bytes | None = None) -> Path:
    """Write a checkpoint for ``epoch`` (or under a literal file name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (checkpoint_name(epoch) if isinstance(epoch, int) else epoch)
    path.write_bytes(zip_bytes(str(epoch)) if data is None else data)
    return path


def truncated() -> bytes:
    whole = zip_bytes()
    return whole[: len(whole) // 2]


def status(folder: Path, *events: dict[str, Any], tail: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(e) + "\n" for e in events)
    (folder / STATUS_FILE).write_text(lines + tail)


def kpi(epoch: int, **values: Any) -> dict[str, Any]:
    return {"status": "RUNNING", "epoch": epoch, "max_epoch": 10, "kpi": values}


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """Epochs 0-4 checkpointed; val_mAP peaks at epoch 2."""
    folder = tmp_path / "results" / "train"
    for e in range(5):
        save(folder, e)
    status(folder, *(kpi(e, val_mAP=v, val_loss=1.0 - v) for e, v in enumerate([0.1, 0.3, 0.6, 0.5, 0.4])))
    return folder


# -- Selector ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, Selector("best")), ("", Selector("best")), ("best", Selector("best")), ("latest", Selector("latest")),
     ("epoch=0", Selector("epoch", 0)), ("epoch=12", Selector("epoch", 12)), (" latest ", Selector("latest"))],
)
def test_selector_parses_the_allowed_forms(text: str | None, expected: Selector) -> None:
    assert Selector.parse(text) == expected


@pytest.mark.parametrize("text", ["epoch=-1", "epoch=", "epoch=1.5", "epoch", "newest", "BEST", "epoch=x", "best,latest"])
def test_selector_rejects_anything_else_with_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        Selector.parse(text)
    assert info.value.exit_code == 2
    assert repr(text) in info.value.message
    assert "epoch=N" in info.value.message and "latest" in info.value.message
    assert info.value.hint


def test_selector_round_trips_through_str() -> None:
    for text in ("best", "latest", "epoch=3"):
        assert str(Selector.parse(text)) == text


# -- picking ----------------------------------------------------------------------------


def test_best_latest_and_epoch_pick_different_files(trained: Path) -> None:
    best = select_checkpoint(trained, BEST)
    assert best.checkpoint == Checkpoint(2, trained / "model_epoch_002.pth")
    assert (best.metric, best.value, best.note) == ("val_mAP", 0.6, None)
    assert select_checkpoint(trained, LATEST).checkpoint.path.name == "model_epoch_004.pth"
    assert select_checkpoint(trained, Selector("epoch", 1)).checkpoint.path.name == "model_epoch_001.pth"


def test_epochs_are_zero_indexed(trained: Path) -> None:
    chosen = select_checkpoint(trained, Selector.parse("epoch=0"))
    assert chosen.checkpoint == Checkpoint(0, trained / "model_epoch_000.pth")
    assert [c.epoch for c in list_checkpoints(trained)] == [0, 1, 2, 3, 4]


def test_missing_epoch_lists_the_available_ones(trained: Path) -> None:
    with pytest.raises(ResolutionError) as info:
        select_checkpoint(trained, Selector("epoch", 5))
    err = info.value
    assert err.exit_code == 3
    assert str(trained) in err.message and "epoch 5" in err.message
    assert err.data["found"] == [0, 1, 2, 3, 4]
    assert ":latest" in (err.hint or "")


def test_the_last_value_reported_for_an_epoch_wins(trained: Path) -> None:
    with (trained / STATUS_FILE).open("a") as handle:
        handle.write(json.dumps(kpi(3, val_mAP=0.9)) + "\n")  # epoch 3 re-validated
    chosen = select_checkpoint(trained, BEST)
    assert (chosen.checkpoint.epoch, chosen.value) == (3, 0.9)


def test_metric_preference_and_bad_values_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    for e in range(3):
        save(folder, e)
    status(
        folder,
        kpi(0, val_mAP=None, val_mAP50=0.2, val_loss=0.1),
        {"status": "RUNNING", "epoch": 1, "kpi": {"val_mAP": True, "val_mAP50": 0.7}},
        {"status": "RUNNING", "kpi": {"val_mAP": 0.99}},  # no epoch: unusable
        kpi(2, val_mAP=float("nan"), val_mAP50=0.5),
    )
    chosen = select_checkpoint(folder, BEST)
    assert (chosen.metric, chosen.checkpoint.epoch, chosen.value) == ("val_mAP50", 1, 0.7)


def test_val_loss_only_picks_the_minimum(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    for e in range(4):
        save(folder, e)
    status(folder, *(kpi(e, val_loss=v) for e, v in enumerate([0.9, 0.4, 0.2, 0.3])))
    chosen = select_checkpoint(folder, BEST)
    assert (chosen.metric, chosen.checkpoint.epoch, chosen.value) == ("val_loss", 2, 0.2)


def test_a_tie_takes_the_later_epoch_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    for e in range(4):
        save(folder, e)
    status(folder, *(kpi(e, val_mAP=v) for e, v in enumerate([0.2, 0.5, 0.3, 0.5])))
    chosen = select_checkpoint(folder, BEST)
    assert chosen.checkpoint.epoch == 3
    assert chosen.note and "tie" in chosen.note and "1" in chosen.note and "3" in chosen.note


def test_a_better_epoch_without_checkpoint_is_named_in_the_note(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    for e in (0, 2, 4):  # checkpoint every other epoch
        save(folder, e)
    status(folder, *(kpi(e, val_mAP=v) for e, v in enumerate([0.1, 0.8, 0.5, 0.6, 0.4])))
    chosen = select_checkpoint(folder, BEST)
    assert (chosen.checkpoint.epoch, chosen.value) == (2, 0.5)
    assert chosen.note and "epoch 1" in chosen.note and "no complete checkpoint" in chosen.note


def test_no_metric_asks_for_latest_or_an_epoch(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    save(folder, 0)
    save(folder, 1)
    status(folder, {"status": "RUNNING", "epoch": 0, "message": "no kpi"})
    with pytest.raises(ResolutionError) as info:
        select_checkpoint(folder, BEST)
    err = info.value
    assert err.exit_code == 3
    assert f"no validation metric in {folder / STATUS_FILE}" in err.message
    assert ":latest" in (err.hint or "") and ":epoch=N" in (err.hint or "")
    assert err.data["found"] == [0, 1]
    assert select_checkpoint(folder, LATEST).checkpoint.epoch == 1  # latest needs no metric


# -- checkpoints still being written ---------------------------------------------------


def test_checkpoints_being_written_are_never_picked(trained: Path) -> None:
    save(trained, ".model_epoch_005.pth.tmp")
    save(trained, "model_epoch_006.pth.tmp")
    save(trained, "model_epoch_007.pth.part")
    save(trained, 8, truncated())  # final name, zip still incomplete
    save(trained, 9, b"")
    with (trained / STATUS_FILE).open("a") as handle:
        handle.writelines(json.dumps(kpi(e, val_mAP=0.95)) + "\n" for e in range(5, 10))
    assert newest_checkpoint(trained) == Checkpoint(4, trained / "model_epoch_004.pth")
    assert select_checkpoint(trained, LATEST).checkpoint.epoch == 4
    best = select_checkpoint(trained, BEST)
    assert best.checkpoint.epoch == 2 and best.note and "no complete checkpoint" in best.note
    with pytest.raises(ResolutionError):
        select_checkpoint(trained, Selector("epoch", 8))


def test_a_non_zip_checkpoint_counts(tmp_path: Path) -> None:
    path = save(tmp_path, 0, b"\x80\x02legacy pickle")  # torch's old, non-zip format
    assert list_checkpoints(tmp_path) == [Checkpoint(0, path)]


def test_no_complete_checkpoint_names_what_the_folder_holds(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    save(folder, ".model_epoch_004.pth.tmp")
    save(folder, 3, truncated())
    status(folder, kpi(3, val_mAP=0.5))
    for selector in (BEST, LATEST, Selector("epoch", 3)):
        with pytest.raises(ResolutionError) as info:
            select_checkpoint(folder, selector)
        err = info.value
        assert err.exit_code == 3 and str(folder) in err.message
        assert ".model_epoch_004.pth.tmp" in err.message
        assert err.data["found"] == [".model_epoch_004.pth.tmp", "model_epoch_003.pth", STATUS_FILE]
        assert "being written" in (err.hint or "")
    assert newest_checkpoint(folder) is None


def test_a_missing_folder_has_no_checkpoints(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "train"
    assert list_checkpoints(missing) == [] and newest_checkpoint(missing) is None and read_status(missing) == []
    with pytest.raises(ResolutionError) as info:
        select_checkpoint(missing, LATEST)
    assert info.value.exit_code == 3 and str(missing) in info.value.message and info.value.data["found"] == []


def test_two_files_for_one_epoch_are_ambiguous(trained: Path) -> None:
    save(trained, "model_epoch_3.pth")
    with pytest.raises(ResolutionError) as info:
        list_checkpoints(trained)
    err = info.value
    assert err.exit_code == 3
    assert "model_epoch_3.pth" in err.message and "model_epoch_003.pth" in err.message
    assert err.data["found"] == ["model_epoch_003.pth", "model_epoch_3.pth"]
    with pytest.raises(ResolutionError):
        select_checkpoint(trained, LATEST)


def test_latest_falls_back_to_model_latest(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    save(folder, LATEST_LINK)
    status(folder, kpi(0), kpi(6))
    chosen = select_checkpoint(folder, LATEST)
    assert chosen.checkpoint == Checkpoint(6, folder / LATEST_LINK)
    assert chosen.note and LATEST_LINK in chosen.note
    with pytest.raises(ResolutionError):
        select_checkpoint(folder, BEST)  # the fallback is for :latest only


def test_latest_link_to_an_epoch_file_elsewhere_takes_its_epoch(tmp_path: Path) -> None:
    target = save(tmp_path / "elsewhere", 7)
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / LATEST_LINK).symlink_to(target)
    assert select_checkpoint(folder, LATEST).checkpoint == Checkpoint(7, folder / LATEST_LINK)


# -- status.json ------------------------------------------------------------------------


def test_read_status_skips_junk_and_a_torn_last_line(tmp_path: Path) -> None:
    status(tmp_path, kpi(0, val_mAP=0.1), kpi(1, val_mAP=0.2), tail='{"status": "RUNNING", "epoch": 2, "kpi": {"val_mA')
    with (tmp_path / STATUS_FILE).open("r+") as handle:
        body = handle.read()
        handle.seek(0)
        handle.write("\n[1, 2]\nnot json\n" + '{"epoch": -4}\n' + body)
    events = read_status(tmp_path)
    assert [e.epoch for e in events] == [0, 1]
    save(tmp_path, 1)
    save(tmp_path, 2)
    assert select_checkpoint(tmp_path, BEST).checkpoint.epoch == 1  # epoch 2's torn line is not a score
