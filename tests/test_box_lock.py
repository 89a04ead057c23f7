"""box/lock: one holder at a time; a second caller gets BusyError after its timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxcert.box.errors import BoxFileError, BusyError
from boxcert.box.lock import file_lock


def test_a_second_holder_is_told_busy(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".lock"
    waited: list[float] = []
    # flock is per open file: a second open in this process conflicts like another process
    with (
        file_lock(path, 10),
        pytest.raises(BusyError, match="a check is running"),
        file_lock(path, 0.2, sleep=waited.append),
    ):
        pass
    assert waited  # it polled before giving up...
    with file_lock(path, 0):  # ...and the lock is free again once released
        pass


def test_timeout_zero_does_not_wait(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    waited: list[float] = []
    with file_lock(path, 10), pytest.raises(BusyError), file_lock(path, 0, sleep=waited.append):
        pass
    assert waited == []


def test_custom_busy_error(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with (
        file_lock(path, 10),
        pytest.raises(BoxFileError, match="held"),
        file_lock(path, 0, busy=lambda: BoxFileError(path, "is held")),
    ):
        pass


def test_a_directory_in_place_of_the_lock(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.mkdir()
    with pytest.raises(BoxFileError, match="is a directory"), file_lock(path, 0):
        pass


def test_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    with pytest.raises(BoxFileError, match="cannot be opened"), file_lock(home / ".lock", 0):
        pass
