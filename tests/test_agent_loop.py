"""The agent's loop on a fake time (injected clock and wait: nothing sleeps).

The first test runs against a real issuer; the others need none (a box without a server, or
with a damaged file, fails its check at once).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxcert.box.agent import REQUEST_SPACING, BoxAgent
from boxcert.box.config import BoxConfig, load_config, save_config
from boxcert.box.files import BoxPaths
from boxcert.box.lock import file_lock
from boxcert.box.state import load_last
from boxcert.box.status import CertState
from boxcert.devstack import free_port
from tests.box_support import FakeTime
from tests.helpers import IssuerProcess

BIG = 1e9  # a poll slice longer than any wait: one fake wait per sleep


def agent_on(paths: BoxPaths, time: FakeTime, poll: float = BIG, **kw: object) -> BoxAgent:
    return BoxAgent(paths, clock=time.clock, wait=time.wait, poll=poll, jitter=lambda: 0.0, **kw)  # type: ignore[arg-type]


def test_backs_off_then_recovers_then_sleeps_until_due(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    paths = BoxPaths(tmp_path / "box")
    save_config(
        paths,
        BoxConfig(
            server="http://127.0.0.1:8069",
            db_uuid=eligible[0],
            enterprise_code=eligible[1],
            issuer=f"http://127.0.0.1:{free_port()}",
            trust_ca=[str(issuer.root_pem)],
        ),
    )
    time = FakeTime()
    stop = threading.Event()

    def on_wait(seconds: float) -> None:
        if len(time.waits) == 2:  # the issuer "comes back" after two failures
            save_config(paths, replace(load_config(paths), issuer=issuer.url))
        if len(time.waits) == 3:  # stopped before the fake 12 h pass: the issuer's Date
            stop.set()  # would then say the box's clock is 12 h ahead (test_box_clock.py)

    time.on_wait = on_wait
    agent = agent_on(paths, time)
    agent.run(stop)
    assert time.waits == [60.0, 120.0, 12 * 3600]  # 1 min, 2 min, then healthy: 12 hours
    last = load_last(paths)
    assert last is not None and last.ok and last.failures == 0
    assert agent.holder.current is not None and agent.holder.current.state is CertState.OK


def test_loop_survives_a_damaged_config(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    paths.home.mkdir()
    paths.config.write_text("{ not json")
    time = FakeTime()
    agent = agent_on(paths, time)
    agent.run(iterations=3)  # must not raise
    assert time.waits == [60.0, 120.0]  # it backs off and keeps trying
    status = agent.holder.current
    assert status is not None and status.state is CertState.ERROR
    assert "config.json: is not valid JSON" in status.detail  # a clear error, not a traceback
    last = load_last(paths)
    assert last is not None and last.failures == 3


def test_loop_survives_a_surprise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = BoxPaths(tmp_path / "box")
    calls = [0]
    time = FakeTime()

    def clock() -> datetime:
        calls[0] += 1
        if calls[0] == 3:  # agent made (1), loop starts (2), the first check reads it (3)
            raise RuntimeError("a defect")
        return time.now

    agent = BoxAgent(paths, clock=clock, wait=time.wait, poll=BIG, jitter=lambda: 0.0)
    agent.run(iterations=2)
    assert caplog.text.count("certificate check failed unexpectedly") == 1
    assert time.waits == [60.0]


def test_stop_ends_the_loop(tmp_path: Path) -> None:
    stop = threading.Event()
    time = FakeTime(on_wait=lambda seconds: stop.set())
    agent = agent_on(BoxPaths(tmp_path / "box"), time, poll=30)
    agent.run(stop)
    assert time.waits == [30]  # the first slice of the first wait
    stop.clear()
    agent.run(threading.Event(), iterations=1)  # a loop that is not stopped runs


def test_request_check_wakes_the_loop_after_a_short_spacing(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")  # no server: each check fails at once
    time = FakeTime()
    agent = agent_on(paths, time)
    time.on_wait = lambda seconds: agent.request_check() if len(time.waits) == 1 else None
    agent.run(iterations=2)
    # woken at once (no time passed), then spaced REQUEST_SPACING after the first check
    assert time.waits == [60.0, REQUEST_SPACING.total_seconds()]
    last = load_last(paths)
    assert last is not None and last.failures == 2  # two checks ran


def test_requests_during_a_wait_are_merged(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    time = FakeTime()
    agent = agent_on(paths, time)

    def on_wait(seconds: float) -> None:
        if len(time.waits) <= 3:
            agent.request_check()  # while waiting and while spacing: three requests

    time.on_wait = on_wait
    agent.run(iterations=2)
    last = load_last(paths)
    assert last is not None and last.failures == 2  # one check for all three


def test_a_settings_change_wakes_the_loop(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    time = FakeTime()

    def on_wait(seconds: float) -> None:
        if len(time.waits) == 2:  # a `configure` from another process, mid-wait
            paths.config.write_text(json.dumps({"identifier": "box-2"}))

    time.on_wait = on_wait
    agent = agent_on(paths, time, poll=20)
    agent.run(iterations=2)
    assert time.waits == [20, 20]  # 40 s into a 60 s back-off, not 60
    last = load_last(paths)
    assert last is not None and last.failures == 2


def test_configure_in_process_wakes_the_loop(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    time = FakeTime()
    agent = agent_on(paths, time)

    def on_wait(seconds: float) -> None:
        if len(time.waits) == 1:
            agent.configure(server="http://127.0.0.1:8069")

    time.on_wait = on_wait
    agent.run(iterations=2)
    assert time.waits == [60.0, REQUEST_SPACING.total_seconds()]
    status = agent.holder.current
    # the second check saw the new server (and now misses the credentials)
    assert status is not None and status.error_code == "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL"


def test_a_check_held_elsewhere_is_retried_without_counting_a_failure(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    time = FakeTime()
    agent = agent_on(paths, time, lock_timeout=0)
    with file_lock(paths.check_lock, 0):  # a `boxcert box ensure` in another process
        agent.run(iterations=2)
    assert time.waits == [60.0]
    assert load_last(paths) is None  # nothing was recorded as a failure


def test_the_time_of_the_check_is_kept(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    time = FakeTime(now=datetime(2026, 5, 1, tzinfo=UTC))
    agent = agent_on(paths, time)
    agent.run(iterations=1)
    assert agent.holder.current is not None
    assert agent.holder.current.checked_at == time.now
