"""box/state: the last attempt stored as data; the earlier display-text format still reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxcert import codes
from boxcert.box.errors import BoxFileError
from boxcert.box.files import BoxPaths
from boxcert.box.state import LastAttempt, load_last, next_record, save_last
from boxcert.wire import RefusalCode

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_round_trip_keeps_code_and_suffix_apart(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    last = LastAttempt(AT, False, codes.LOAD_REQUEST_STATUS, "503", "maintenance", 3)
    save_last(paths, last)
    stored = json.loads(paths.state.read_text())["last_attempt"]
    assert stored["code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS"
    assert stored["suffix"] == "503"
    assert load_last(paths) == last


def test_refusal_is_kept(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    last = LastAttempt(
        AT, False, codes.LOAD_REQUEST_NO_RESULT, "", "no line", 1, RefusalCode.NO_IOT_BOX_LINE
    )
    save_last(paths, last)
    assert load_last(paths) == last


def test_the_format_of_earlier_versions_is_read(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    paths.state.write_text(
        json.dumps(
            {
                "last_attempt": {
                    "at": "2026-05-01T12:00:00+00:00",
                    "ok": False,
                    "error_code": "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404",
                    "detail": "the certificate service answered HTTP 404",
                    "failures": 2,
                }
            }
        )
    )
    last = load_last(paths)
    assert last == LastAttempt(
        AT, False, codes.LOAD_REQUEST_STATUS, "404", "the certificate service answered HTTP 404", 2
    )
    paths.state.write_text(
        json.dumps(
            {
                "last_attempt": {
                    "at": "2026-05-01T12:00:00",
                    "ok": True,
                    "error_code": None,
                    "detail": "ok",
                    "failures": 0,
                }
            }
        )
    )
    last = load_last(paths)
    assert last is not None and last.ok and last.code is None and last.at == AT  # naive → UTC


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        "[]",
        "null",
        '{"last_attempt": 5}',
        '{"last_attempt": {}}',
        '{"last_attempt": {"at": "yesterday", "ok": false}}',
        '{"last_attempt": {"at": "2026-05-01T12:00:00+00:00", "ok": "no"}}',
    ],
)
def test_a_damaged_record_is_a_fresh_box(tmp_path: Path, content: str) -> None:
    paths = BoxPaths(tmp_path)
    paths.state.write_text(content)
    assert load_last(paths) is None


def test_odd_values_are_tamed(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    paths.state.write_text(
        json.dumps(
            {
                "last_attempt": {
                    "at": "2026-05-01T12:00:00+00:00",
                    "ok": False,
                    "code": "ERR_UNKNOWN",
                    "suffix": 5,
                    "detail": "a\x1b[2Jb",
                    "failures": -4,
                    "refusal": "made_up",
                }
            }
        )
    )
    last = load_last(paths)
    assert last is not None
    assert (last.code, last.suffix, last.failures, last.refusal) == (None, "", 0, None)
    assert "\x1b" not in last.detail


def test_a_directory_in_place_of_the_state_is_a_clear_error(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    paths.state.mkdir()
    with pytest.raises(BoxFileError, match="is a directory"):
        load_last(paths)
    with pytest.raises(BoxFileError, match="is a directory"):
        save_last(paths, LastAttempt(AT, True, None, "", "ok", 0))


def test_the_failure_streak() -> None:
    first = next_record(None, AT, ok=False, code=codes.LOAD_REQUEST_EXCEPTION, detail="down")
    second = next_record(first, AT, ok=False, detail="still down")
    ok = next_record(second, AT, ok=True, detail="fine")
    after = next_record(ok, AT, ok=False, detail="down again")
    assert [r.failures for r in (first, second, ok, after)] == [1, 2, 0, 1]
