"""The stand-in backend: its debounce rule (a table), checks in the background, credentials
on disk."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.box.front.backend import CertState, Credentials, CredentialsError, StatusView
from boxcert.box.front.localbackend import LocalBackend, check_due, status_json

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("elapsed", "running", "force", "due"),
    [
        (None, False, False, True),  # never checked
        (None, True, True, False),  # one runs: never two
        (59, False, False, False),
        (60, False, False, True),
        (4, False, True, False),  # Refresh still waits a few seconds
        (5, False, True, True),
        (600, True, False, False),
    ],
)
def test_check_due(elapsed: int | None, running: bool, force: bool, due: bool) -> None:
    last = None if elapsed is None else T0
    now = T0 + timedelta(seconds=elapsed or 0)
    assert check_due(now, last, running, force=force) is due


def test_checks_run_in_the_background_one_at_a_time(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(_: LocalBackend) -> StatusView:
        release.wait(30)
        return StatusView(CertState.OK, "done")

    backend = LocalBackend(tmp_path, check=slow)
    assert backend.request_check(force=True) is True
    assert backend.status().checking  # answers at once while the check waits
    assert backend.request_check(force=True) is True  # "running", not a second one
    assert backend.checks_started == 1
    release.set()
    for _ in range(1000):
        if not backend.status().checking:
            break
        threading.Event().wait(0.01)
    assert backend.status().state is CertState.OK
    assert backend.request_check() is False  # within the interval


def test_credentials_are_stored_0600_and_validated(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    assert backend.credentials() == Credentials()
    saved = Credentials("https://erp.example.com", "uuid", "code-1234")
    backend.save_credentials(saved)
    assert backend.credentials() == saved
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
    for bad, message in [
        (Credentials(server="erp.example.com"), "must start with http"),
        (Credentials(db_uuid="x" * 300), "too long"),
        (Credentials(contract_code="a\nb"), "control characters"),
    ]:
        with pytest.raises(CredentialsError, match=message) as refused:
            backend.save_credentials(bad)
        assert "a\nb" not in str(refused.value)
    (tmp_path / "credentials.json").write_text("{not json")
    assert backend.credentials() == Credentials()


def test_status_json_has_no_secrets(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, url="https://x")
    backend.save_credentials(Credentials("https://erp", "uuid-9", "secret-code-1"))
    text = str(status_json(backend.status()))
    assert "secret-code-1" not in text and "uuid-9" not in text
