"""The agent's loop with an injected clock and sleep, against a real issuer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, BoxPaths, load_config, save_config
from boxcert.box.state import load_last
from boxcert.devstack import free_port
from tests.helpers import IssuerProcess


def test_backs_off_then_recovers_then_sleeps_until_due(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    paths = BoxPaths(tmp_path / "box")
    save_config(paths, BoxConfig(
        server="http://127.0.0.1:8069", db_uuid=eligible[0], enterprise_code=eligible[1],
        issuer=f"http://127.0.0.1:{free_port()}", trust_ca=[str(issuer.root_pem)],
    ))
    now = [datetime.now(UTC)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)
        if len(slept) == 2:  # the issuer "comes back" after two failures
            save_config(paths, replace(load_config(paths), issuer=issuer.url))

    agent = BoxAgent(paths, clock=lambda: now[0], sleep=sleep, jitter=lambda: 0.0)
    agent.run(iterations=4)
    assert slept[:2] == [60.0, 120.0]  # 1 min, then 2 min after the second failure
    assert slept[2] == 12 * 3600  # healthy: recheck in 12 hours
    last = load_last(paths)
    assert last is not None and last.ok and last.failures == 0



def test_loop_survives_a_damaged_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = BoxPaths(tmp_path / "box")
    paths.home.mkdir()
    paths.config.write_text("{ not json")
    slept: list[float] = []
    agent = BoxAgent(paths, clock=lambda: datetime.now(UTC), sleep=slept.append,
                     jitter=lambda: 0.0)
    agent.run(iterations=3)  # must not raise
    assert slept == [60.0, 120.0]  # it backs off and keeps trying
    assert caplog.text.count("certificate check failed unexpectedly") == 3
