"""box/files: bounded reads of regular files only, and the clean-up of temp files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from boxcert.box.errors import BoxFileError
from boxcert.box.files import BoxPaths, clean_stale_temps, home_from, read_bounded, read_optional


def test_reads_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    assert read_optional(tmp_path / "missing", 10) is None
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 10)


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    with pytest.raises(BoxFileError, match="larger than 100 bytes"):
        read_bounded(path, 100)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BoxFileError, match="is a directory") as caught:
        read_bounded(tmp_path, 100)
    assert caught.value.path == tmp_path


def _bounded_in_thread(path: Path) -> BaseException | bytes | None:
    """Run read_bounded in a thread; a hang shows as None after a generous guard."""
    result: list[BaseException | bytes] = []

    def target() -> None:
        try:
            result.append(read_bounded(path, 1024))
        except BaseException as err:
            result.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)  # a hang guard, not a time bound
    return result[0] if result else None


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    outcome = _bounded_in_thread(fifo)
    assert isinstance(outcome, BoxFileError), outcome
    assert "not a regular file" in str(outcome)


def test_a_link_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "cert.pem"
    link.symlink_to("/dev/zero")
    outcome = _bounded_in_thread(link)
    assert isinstance(outcome, BoxFileError), outcome


def test_a_dangling_link_reads_as_missing(tmp_path: Path) -> None:
    link = tmp_path / "cert.pem"
    link.symlink_to(tmp_path / "nowhere")
    assert read_optional(link, 10) is None


def test_clean_stale_temps(tmp_path: Path) -> None:
    names = [
        ".cert.pem.abcdefgh",
        ".key.pem.12345678",
        ".state.json.a_b_c_d_",
        ".config.json.old_temp",
        ".config.json.newtemp1",
        ".cert.pem.too-long-x",
        "cert.pem",
        ".cert.pem.abc",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    old = time.time() - 3600
    os.utime(tmp_path / ".config.json.old_temp", (old, old))
    removed = clean_stale_temps(tmp_path)
    assert sorted(removed) == sorted(
        [".cert.pem.abcdefgh", ".key.pem.12345678", ".state.json.a_b_c_d_", ".config.json.old_temp"]
    )
    # config.json is written by `configure` without the check lock: a fresh temp may be live
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".config.json.newtemp1", ".cert.pem.too-long-x", "cert.pem", ".cert.pem.abc"]
    )
    assert clean_stale_temps(tmp_path / "missing") == []


def test_paths_and_home() -> None:
    paths = home_from("/srv/box")
    assert paths == BoxPaths(Path("/srv/box"))
    assert [
        p.name
        for p in (
            paths.config,
            paths.key,
            paths.cert,
            paths.state,
            paths.log,
            paths.check_lock,
            paths.pair_lock,
        )
    ] == ["config.json", "key.pem", "cert.pem", "state.json", "box.log", ".lock", ".pair.lock"]
