"""The box with a wrong clock (an injected clock, against a real issuer process): the clock error
shows with its source, no certificate is renewed, discarded or installed because of the wrong
clock, and TLS verification stays on — an untrusted chain is still refused, and an issuer
whose certificate the box cannot verify gets nothing but a request for its public ``Date``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from boxcert import codes, pki
from boxcert.box import pair as pairs
from boxcert.box.agent import BoxAgent
from boxcert.box.clockstate import ClockState, decision_time, load_clock
from boxcert.box.config import load_config, save_config
from boxcert.box.diagnosis.clock import ClockCheck, ClockVerdict, Source
from boxcert.box.files import BoxPaths
from boxcert.box.hublink import HubLink, LinkState, status_document
from boxcert.box.metrics import BoxMetrics
from boxcert.box.status import BoxEvent, BoxStatus, CertState, Installed, StatusHolder
from boxcert.box.verdict import Reason, inspect
from tests.box_support import FakeTime, names_of
from tests.helpers import (
    BoxHome,
    IssuerProcess,
    LocalTestCA,
    configured_box,
    start_issuer,
)
from tests.ntp import chrony_server, needs_chrony

T = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def shifted(delta: timedelta) -> Callable[[], datetime]:
    """The box's clock, ``delta`` off the real time."""
    return lambda: datetime.now(UTC) + delta


class Watched:
    """A real agent on ``paths`` with ``clock``, its events and its metrics kept."""

    def __init__(self, paths: BoxPaths, clock: Callable[[], datetime]) -> None:
        self.holder = StatusHolder()
        self.metrics = BoxMetrics(self.holder)
        self.events: list[BoxEvent] = []
        self.holder.subscribe(self.events.append)
        self.agent = BoxAgent(paths, clock=clock, holder=self.holder, observer=self.metrics)

    def x509_requests(self) -> int:
        text = self.metrics.render().decode()
        return sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in text.splitlines()
            if line.startswith("boxcert_box_issuer_request_seconds_count")
            and 'endpoint="x509"' in line
        )


def good_box(tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]) -> BoxHome:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    code, report = box.ensure()
    assert code == 0, report
    return box


def test_two_days_behind(tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    box = good_box(tmp_path, issuer, eligible)
    paths = BoxPaths(box.home)
    before, granted = box.files(), issuer.grants()
    behind = shifted(-timedelta(days=2))
    # By its own clock the box would find its new certificate "not yet valid" and renew it.
    pair = pairs.load_pair(paths)
    assert pair is not None
    assert inspect(pair.chain, pair.key, names_of(pair.key), behind()).reason is (
        Reason.NOT_YET_VALID
    )
    watched = Watched(paths, behind)
    status = watched.agent.ensure()
    assert status.state is CertState.ERROR and status.error is codes.CHECK_CLOCK_SKEW
    assert "2 days behind the certificate service" in status.detail
    clock = status.to_json()["clock"]
    assert clock["verdict"] == "behind" and clock["source"] == "issuer"
    assert abs(clock["offset_seconds"] - 2 * 86400) < 60
    assert status.to_json()["remedy"] == codes.CHECK_CLOCK_SKEW.remedy
    # Nothing renewed, discarded or installed because of the clock.
    assert box.files() == before and not any(isinstance(e, Installed) for e in watched.events)
    assert watched.x509_requests() == 0 and issuer.grants() == granted
    # The certificate is still shown (and judged by the issuer's time); status agrees.
    again = watched.agent.status()
    assert again.error is codes.CHECK_CLOCK_SKEW and again.certificate is not None
    document = status_document(again, HubLink(LinkState.NONE))
    assert document["clock"]["verdict"] == "behind" and document["error_code"] == (
        "ERR_IOT_HTTPS_CHECK_CLOCK_SKEW"
    )
    # The clock is set right: the next check is OK again.
    fixed = BoxAgent(paths).ensure()
    assert fixed.state is CertState.OK and fixed.clock is not None
    assert fixed.clock.check.verdict is ClockVerdict.OK and box.files() == before


def test_ten_minutes_ahead_renews_nothing(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    """A certificate due in 5 minutes (real time): 10 minutes ahead, the box's clock says "due";
    the issuer's time says not yet, so nothing is asked."""
    box = configured_box(tmp_path / "box", issuer, *eligible)
    paths = BoxPaths(box.home)
    ca = LocalTestCA.create("own root")
    root = ca.write(tmp_path / "own-root.pem")
    box.configure("--trust-ca", str(issuer.root_pem), "--trust-ca", str(root))
    key = pki.make_ec_key()
    now = datetime.now(UTC)
    start = now + timedelta(minutes=5) - timedelta(days=60)  # due at 2/3 of 90 days
    leaf = ca.leaf(key.public_key(), names_of(key), not_before=start,
                   not_after=start + timedelta(days=90))  # fmt: skip
    pairs.install_pair(paths, pairs.CertPair(key, (leaf,)))
    ahead = shifted(timedelta(minutes=10))
    assert inspect([leaf], key, names_of(key), ahead()).reason is Reason.DUE
    before = box.files()
    watched = Watched(paths, ahead)
    status = watched.agent.ensure()
    assert status.error is codes.CHECK_CLOCK_SKEW, status
    assert "10 minutes ahead of the certificate service" in status.detail
    assert box.files() == before and watched.x509_requests() == 0
    assert not any(isinstance(e, Installed) for e in watched.events)


def test_an_untrusted_chain_is_still_refused(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    """Two days behind and no trust in the issuer's root: the delivered chain is refused."""
    box = configured_box(tmp_path / "box", issuer, *eligible)
    paths = BoxPaths(box.home)
    save_config(paths, replace(load_config(paths), trust_ca=[]))
    watched = Watched(paths, shifted(-timedelta(days=2)))
    status = watched.agent.ensure()
    assert status.error is codes.CHECK_CLOCK_SKEW
    assert "the delivered certificate is not trusted" in status.detail
    assert watched.x509_requests() == 1  # asked (the issuer's time says: no certificate yet)
    assert not paths.cert.exists()  # ... and refused what came
    assert not any(isinstance(e, Installed) for e in watched.events)


def tls_issuer(tmp_path: Path, not_before: datetime) -> tuple[IssuerProcess, Path]:
    """A real issuer over TLS whose own certificate starts at ``not_before``."""
    ca = LocalTestCA.create("issuer tls root")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.leaf(key.public_key(), dns_names=["localhost"], ips=["127.0.0.1"],
                   not_before=not_before, not_after=not_before + timedelta(days=30))  # fmt: skip
    (tmp_path / "tls.pem").write_text(pki.chain_pem([cert]))
    pki.atomic_write(tmp_path / "tls.key", pki.private_key_pem(key), 0o600)
    issuer = start_issuer(
        tmp_path / "issuer", "--tls-cert", str(tmp_path / "tls.pem"),
        "--tls-key", str(tmp_path / "tls.key"),
    )  # fmt: skip
    return issuer, ca.write(tmp_path / "issuer-tls-root.pem")


def test_verification_fails_on_dates_the_hint_explains_and_nothing_secret_is_sent(
    tmp_path: Path,
) -> None:
    """The issuer's TLS certificate is not valid yet at the real time (as a certificate issued
    yesterday is to a box two days behind): verified TLS fails, the unverified ``Date`` says
    how wrong the clock is, and no request with credentials is made."""
    issuer, tls_root = tls_issuer(tmp_path, datetime.now(UTC) + timedelta(days=1))
    try:
        box = BoxHome(tmp_path / "box")
        box.configure("--server", "http://127.0.0.1:8069", "--db-uuid", "u",
                      "--enterprise-code", "c", "--issuer", issuer.url,
                      "--issuer-ca", str(tls_root), "--trust-ca", str(issuer.root_pem))  # fmt: skip
        watched = Watched(BoxPaths(box.home), shifted(-timedelta(days=2)))
        status = watched.agent.ensure()
        log = issuer.log()
    finally:
        issuer.stop()
    assert status.error is codes.CHECK_CLOCK_SKEW, status
    assert "(unverified)" in status.detail
    assert "TLS verification failed" in status.detail and "not yet valid" in status.detail
    clock = status.to_json()["clock"]
    assert clock["source"] == "issuer_unverified" and clock["verdict"] == "behind"
    assert watched.x509_requests() == 0 and "granted" not in log and "refused" not in log
    assert not box.key_path.exists() and not box.cert_path.exists()  # nothing decided
    # Without the clock skew the same failure is an ordinary TLS failure: no hint is trusted
    # for anything else. The status of another process shows the same clock error.
    assert BoxAgent(BoxPaths(box.home), clock=shifted(-timedelta(days=2))).status().error is (
        codes.CHECK_CLOCK_SKEW
    )


@needs_chrony
def test_the_ntp_server_is_trusted_first(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = good_box(tmp_path, issuer, eligible)
    with chrony_server() as server:
        box.configure("--ntp-server", f"{server[0]}:{server[1]}")
        status = Watched(BoxPaths(box.home), shifted(-timedelta(days=2))).agent.ensure()
    assert status.error is codes.CHECK_CLOCK_SKEW
    assert "behind the NTP server" in status.detail
    assert status.to_json()["clock"]["source"] == "ntp"


def test_the_loop_after_twelve_fake_hours(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    """The loop's clock runs 12 h ahead of the issuer's during a wait (as a box's clock that
    jumped): at its next check it says so and keeps its certificate."""
    box = configured_box(tmp_path / "box", issuer, *eligible)
    time = FakeTime()
    agent = BoxAgent(BoxPaths(box.home), clock=time.clock, wait=time.wait, poll=1e9,
                     jitter=lambda: 0.0)  # fmt: skip
    installed: list[BoxEvent] = []
    agent.holder.subscribe(installed.append)
    agent.run(iterations=2)
    assert time.waits == [12 * 3600]
    status = agent.holder.current
    assert status is not None and status.error is codes.CHECK_CLOCK_SKEW
    assert "12 hours ahead" in status.detail
    assert sum(isinstance(e, Installed) for e in installed) == 1  # the first check's only


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, T),
        (ClockState(ClockCheck(ClockVerdict.OK, timedelta(seconds=3), Source.ISSUER, ""), T), T),
        (ClockState(ClockCheck(ClockVerdict.UNKNOWN, timedelta(0), None, ""), T), T),
        # a trusted source: decide by its time
        (ClockState(ClockCheck(ClockVerdict.BEHIND, timedelta(days=2), Source.ISSUER, ""), T),
         T + timedelta(days=2)),
        (ClockState(ClockCheck(ClockVerdict.AHEAD, -timedelta(minutes=10), Source.NTP, ""), T),
         T - timedelta(minutes=10)),
        # only the unverified hint: decide nothing
        (ClockState(ClockCheck(ClockVerdict.BEHIND, timedelta(days=2), Source.ISSUER_HINT, ""),
                    T), None),
    ],
)  # fmt: skip
def test_decision_time(state: ClockState | None, expected: datetime | None) -> None:
    assert decision_time(T, state) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"verdict": "sideways", "offset_seconds": 1, "source": "ntp", "checked_at": "x"},
        {"verdict": "ok", "offset_seconds": "1", "source": "ntp", "checked_at": T.isoformat()},
        {"verdict": "ok", "offset_seconds": 1e12, "source": "ntp", "checked_at": T.isoformat()},
        {"verdict": "ok", "offset_seconds": 1, "source": "sundial", "checked_at": T.isoformat()},
    ],
)
def test_a_damaged_clock_record_is_forgotten(tmp_path: Path, raw: object) -> None:
    paths = BoxPaths(tmp_path)
    paths.clock_state.write_text(json.dumps(raw))
    assert load_clock(paths) is None


def test_a_clock_record_round_trips(tmp_path: Path) -> None:
    detail = "The box's clock is 10 minutes ahead of the NTP server."
    check = ClockCheck(ClockVerdict.AHEAD, -timedelta(minutes=10), Source.NTP, detail)
    state = ClockState(check, T)
    assert ClockState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_repeated_clock_readings_are_no_change() -> None:
    """The hub hears of a clock error once, not at every reading."""

    def status(offset: timedelta, at: datetime) -> BoxStatus:
        check = ClockCheck(ClockVerdict.BEHIND, offset, Source.ISSUER,
                           f"The box's clock is 2 days behind the certificate service: it reads "
                           f"{at:%H:%M:%S} UTC where it is …")  # fmt: skip
        return BoxStatus(CertState.ERROR, codes.CHECK_CLOCK_SKEW, "x",
                         clock=ClockState(check, at))  # fmt: skip

    first = status(timedelta(days=2), T)
    assert first.same_as(status(timedelta(days=2, seconds=3), T + timedelta(minutes=1)))
    assert first.clock is not None
    ahead = replace(first.clock, check=replace(first.clock.check, verdict=ClockVerdict.AHEAD))
    assert not first.same_as(replace(first, clock=ahead))
