"""box/wake: the wait between checks, cut short by a request, a settings change or stop.

The primitive wait is a fake that records what it was asked and returns at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from boxcert.box.wake import Alarm, Wake, wait_on_event


class Waits:
    def __init__(self, during: Callable[[int], None] | None = None) -> None:
        self.asked: list[float] = []
        self.during = during

    def __call__(self, event: threading.Event, seconds: float) -> bool:
        self.asked.append(seconds)
        if self.during is not None:
            self.during(len(self.asked))
        return event.is_set()


def test_a_quiet_wait_runs_its_length_in_slices(tmp_path: Path) -> None:
    waits = Waits()
    alarm = Alarm(tmp_path / "config.json", wait=waits, poll=60)
    assert alarm.sleep(150) is Wake.TIMEOUT
    assert waits.asked == [60, 60, 30]
    assert alarm.sleep(0) is Wake.TIMEOUT


def test_a_request_wakes_it_and_is_taken_once(tmp_path: Path) -> None:
    alarm: Alarm

    def during(n: int) -> None:
        if n == 2:
            alarm.request(force=True)

    waits = Waits(during)
    alarm = Alarm(tmp_path / "config.json", wait=waits, poll=60)
    assert alarm.sleep(3600) is Wake.REQUESTED
    assert waits.asked == [60, 60]
    assert alarm.take_request() == (True, True)
    assert alarm.take_request() == (False, False)


def test_requests_merge(tmp_path: Path) -> None:
    alarm = Alarm(tmp_path / "config.json", wait=Waits(), poll=60)
    alarm.request()
    alarm.request(force=True)
    alarm.request()
    assert alarm.sleep(10) is Wake.REQUESTED
    assert alarm.take_request() == (True, True)


def test_a_change_of_config_json_wakes_it(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")

    def during(n: int) -> None:
        if n == 3:
            config.write_text('{"zone": "changed.example"}')

    waits = Waits(during)
    alarm = Alarm(config, wait=waits, poll=5)
    assert alarm.sleep(3600) is Wake.CONFIG_CHANGED
    assert waits.asked == [5, 5, 5]
    assert alarm.sleep(10) is Wake.TIMEOUT  # the change is seen once


def test_a_config_file_that_appears_or_goes(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    alarm = Alarm(config, wait=Waits(), poll=5)
    config.write_text("{}")
    assert alarm.sleep(10) is Wake.CONFIG_CHANGED
    config.unlink()
    assert alarm.sleep(10) is Wake.CONFIG_CHANGED


def test_note_config_forgets_a_change_already_read(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    alarm = Alarm(config, wait=Waits(), poll=5)
    config.write_text("{}")
    alarm.note_config()
    assert alarm.sleep(10) is Wake.TIMEOUT


def test_config_changed_in_this_process(tmp_path: Path) -> None:
    alarm = Alarm(tmp_path / "config.json", wait=Waits(), poll=5)
    alarm.config_changed()
    assert alarm.sleep(10) is Wake.CONFIG_CHANGED
    assert alarm.sleep(10) is Wake.TIMEOUT


def test_stop(tmp_path: Path) -> None:
    stop = threading.Event()
    waits = Waits(lambda n: stop.set() if n == 2 else None)
    alarm = Alarm(tmp_path / "config.json", wait=waits, poll=5)
    assert alarm.sleep(3600, stop) is Wake.STOPPED
    assert waits.asked == [5, 5]


def test_the_real_wait_returns_at_once_when_woken() -> None:
    event = threading.Event()
    event.set()
    assert wait_on_event(event, 3600) is True  # no sleeping: the event is already set
