"""A hostile issuer: nothing is installed, the old pair keeps serving, no wait past the deadline.

The peer is a real loopback server scripted byte by byte (:class:`RawIssuer`); the box is the
real agent with a short injected exchange deadline. Before each case the box holds a trusted
pair in its renewal window, so it asks, and must keep that pair through every bad answer:
those of issue 7 (dripping headers, content decoding, terminal escapes), the bad answers of
``test_box_bad_answers.py``, and random mutations of a good answer.
"""

from __future__ import annotations

import gzip
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes, pki
from boxcert.box import pair as pairs
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.files import BoxPaths
from boxcert.box.status import BoxEvent, BoxStatus, CertState, Installed
from tests import test_box_bad_answers as bad_answers
from tests.box_support import RawIssuer, Script, http_answer, issued_pair, names_of, raw_issuer
from tests.fuzzing import budget, report
from tests.helpers import LocalTestCA

DEADLINE = 0.5  # seconds: the box's injected exchange deadline
GUARD = 60  # seconds: a hang guard only

EXCEPTION = codes.LOAD_REQUEST_EXCEPTION.code
STATUS = codes.LOAD_REQUEST_STATUS.code
NO_RESULT = codes.LOAD_REQUEST_NO_RESULT.code
INVALID = codes.LOAD_INVALID_CERT.code


@dataclass
class DueBox:
    paths: BoxPaths
    ca: LocalTestCA
    old: pairs.CertPair
    peer: RawIssuer

    def reset(self) -> None:
        pairs.install_pair(self.paths, self.old)

    def files(self) -> tuple[bytes, bytes]:
        return self.paths.key.read_bytes(), self.paths.cert.read_bytes()

    def ensure(self) -> tuple[BoxStatus, list[BoxEvent]]:
        """ensure() in a thread, so that a hang fails the test instead of stopping it."""
        agent = BoxAgent(self.paths, exchange_deadline=DEADLINE, lock_timeout=GUARD)
        events: list[BoxEvent] = []
        agent.holder.subscribe(events.append)
        result: list[BoxStatus | BaseException] = []

        def target() -> None:
            try:
                result.append(agent.ensure())
            except BaseException as err:
                result.append(err)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(GUARD)
        assert result, "ensure hung"
        outcome = result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome, events


@pytest.fixture
def due_box(tmp_path: Path) -> Iterator[DueBox]:
    ca = LocalTestCA.create()
    now = datetime.now(UTC)
    old = issued_pair(ca, not_before=now - timedelta(days=80), days=90)
    paths = BoxPaths(tmp_path / "box")
    pairs.install_pair(paths, old)
    with raw_issuer() as peer:
        peer.info = http_answer(b'{"zone": "iot.boxcert.test", "api_version": 2}')
        save_config(
            paths,
            BoxConfig(
                server="http://127.0.0.1:8069",
                db_uuid="u",
                enterprise_code="c",
                issuer=peer.url,
                trust_ca=[str(ca.write(tmp_path / "ca.pem"))],
            ),
        )
        yield DueBox(paths, ca, old, peer)


def answer(body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None) -> Script:
    data = http_answer(body, status, headers)
    return lambda conn, request: conn.sendall(data)


def raw(data: bytes) -> Script:
    return lambda conn, request: conn.sendall(data)


def drip(prefix: bytes, piece: bytes = b"x") -> Script:
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(prefix)
        for _ in range(600):  # 30 s, far past the deadline
            time.sleep(0.05)
            conn.sendall(piece)

    return script


def silence(conn: socket.socket, request: bytes) -> None:
    conn.settimeout(GUARD)
    if conn.recv(1) == b"":
        raise ConnectionResetError("the box hung up")


def grant_body(chain: list[object], key_pem: str | None = None) -> bytes:
    result: dict[str, object] = {
        "x509_pem": pki.chain_pem(chain),  # type: ignore[arg-type]
        "subject_cn": "x",
        "domain": "x",
    }
    if key_pem is not None:
        result["private_key_pem"] = key_pem
    return json.dumps({"result": result}).encode()


def good_grant(box: DueBox) -> bytes:
    return grant_body([box.ca.leaf(box.old.key.public_key(), names_of(box.old.key))])


Builder = Callable[[DueBox], Script]
JSON = {"Content-Type": "application/json"}
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

# name: (expected code, answer, whether the peer was still sending when the box gave up)
HOSTILE: dict[str, tuple[str, Builder, bool]] = {
    "dripping headers": (EXCEPTION, lambda b: drip(b"HTTP/1.1 200 OK\r\nX-Slow: "), True),
    "dripping header lines": (EXCEPTION, lambda b: drip(b"HTTP/1.1 200 OK\r\n", b"X: y\r\n"), True),
    "dripping body": (
        EXCEPTION,
        lambda b: drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{"),
        True,
    ),
    "endless chunks": (
        EXCEPTION,
        lambda b: drip(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\n \r\n"),
        True,
    ),
    "silence": (EXCEPTION, lambda b: silence, True),
    "good grant, gzip-encoded": (
        EXCEPTION,
        lambda b: answer(gzip.compress(good_grant(b)), headers=GZIP),
        False,
    ),
    "gzip bomb": (
        EXCEPTION,
        lambda b: answer(gzip.compress(b"\0" * (16 << 20)), headers=GZIP),
        False,
    ),
    "oversized body": (
        EXCEPTION,
        lambda b: answer(b'{"result": "' + b"A" * (2 << 20) + b'"}'),
        False,
    ),
    "huge header": (
        EXCEPTION,
        lambda b: raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n{}"),
        False,
    ),
    "garbage status line": (EXCEPTION, lambda b: raw(b"HELLO THERE\r\n\r\n"), False),
    "no HTTP at all": (EXCEPTION, lambda b: raw(b'{"result": {}}'), False),
    "closed without answer": (EXCEPTION, lambda b: raw(b""), False),
    "short body then close": (
        EXCEPTION,
        lambda b: raw(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"result"'),
        False,
    ),
    "refusal with terminal escapes": (
        NO_RESULT,
        lambda b: answer(
            json.dumps(
                {
                    "result": {
                        "error": {
                            "code": "\x1b]0;pwned\x07",
                            "message": "\x1b[2J\x1b[31mred\r\nfake",
                        }
                    }
                }
            ).encode()
        ),
        False,
    ),
    "error body with escapes": (
        STATUS,
        lambda b: answer(
            json.dumps({"error": {"code": "x", "message": "\x1b[2Jdown\u202eevil"}}).encode(),
            "503 Service Unavailable",
        ),
        False,
    ),
    "redirect elsewhere": (
        STATUS,
        lambda b: answer(b"", "307 Temporary Redirect", {"Location": "http://127.0.0.1:1/x"}),
        False,
    ),
    "json array": (NO_RESULT, lambda b: answer(b"[1, 2]"), False),
    "json null": (NO_RESULT, lambda b: answer(b"null"), False),
    "deep nesting": (EXCEPTION, lambda b: answer(b"[" * 200_000), False),
    "pem not a string": (NO_RESULT, lambda b: answer(b'{"result": {"x509_pem": 5}}'), False),
    "invalid utf-8": (EXCEPTION, lambda b: answer(b'{"result": "\xff\xfe"}'), False),
    "a key of the issuer's with its certificate": (
        INVALID,
        lambda b: (
            lambda other: answer(
                grant_body(
                    [b.ca.leaf(other.public_key(), names_of(b.old.key))],
                    pki.private_key_pem(other).decode(),
                )
            )
        )(pki.make_ec_key()),
        False,
    ),
}


def _bad_answer(name: str) -> Builder:
    def build(box: DueBox) -> Script:
        status, content_type, body = bad_answers.CASES[name][1](box.ca, box.old.key)
        phrase = {200: "200 OK", 503: "503 Service Unavailable"}[status]
        return answer(body, phrase, {"Content-Type": content_type})

    return build


for _name, (_code, _) in bad_answers.CASES.items():
    HOSTILE[f"known: {_name}"] = (_code.split(" ")[0], _bad_answer(_name), False)


@pytest.mark.fuzz
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_answer_changes_nothing(case: str, due_box: DueBox) -> None:
    expected, build, still_sending = HOSTILE[case]
    due_box.peer.script = build(due_box)
    before = due_box.files()
    status, events = due_box.ensure()
    assert status.state is CertState.ERROR, status
    assert status.error is not None and status.error.code == expected, status
    assert due_box.files() == before  # nothing installed, the old pair untouched...
    assert pairs.load_pair(due_box.paths) == due_box.old  # ...and whole
    assert not any(isinstance(e, Installed) for e in events)
    assert status.detail.isprintable() and "\x1b" not in json.dumps(status.to_json())
    assert len(due_box.peer.requests) == 1
    if still_sending:  # the box gave up at its deadline, not when the peer stopped
        assert "timed out" in status.detail
        assert due_box.peer.client_gone.wait(GUARD)
        assert not due_box.peer.finished.is_set()


def test_a_good_answer_is_installed(due_box: DueBox) -> None:
    """The control case: the same box and peer install a good grant."""
    due_box.peer.script = answer(good_grant(due_box))
    status, events = due_box.ensure()
    assert status.state is CertState.OK, status
    assert any(isinstance(e, Installed) for e in events)


def _mutate(data: bytes, rng: random.Random, span: tuple[int, int] | None = None) -> bytes:
    """A few random edits, inside ``span`` when given (start, end)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        low, high = span if span is not None else (0, len(out))
        where = rng.randrange(low, max(low + 1, min(high, len(out)))) if out else 0
        kind = rng.choice(["flip", "insert", "delete", "truncate", "duplicate"])
        if kind == "flip" and out:
            out[where] ^= 1 << rng.randrange(8)
        elif kind == "insert":
            out[where:where] = bytes([rng.randrange(256)])
        elif kind == "delete" and out:
            del out[where]
        elif kind == "truncate" and span is None:
            del out[where:]
        elif kind == "duplicate":
            out[where:where] = out[where : where + rng.randint(1, 64)]
    return bytes(out)


def _mutated_answer(body: bytes, rng: random.Random) -> bytes:
    """Edits in the certificate's base64, in the JSON around it, or anywhere in the answer."""
    where = rng.random()
    if where < 0.4:
        start = body.index(b"-----BEGIN CERTIFICATE-----") + 28
        end = body.index(b"-----END CERTIFICATE-----")
        return http_answer(_mutate(body, rng, (start, end)), headers=JSON)
    if where < 0.7:
        return http_answer(_mutate(body, rng), headers=JSON)  # Content-Length still right
    return _mutate(http_answer(body, headers=JSON), rng)


@pytest.mark.fuzz
def test_mutated_answers_install_a_sound_pair_or_nothing(due_box: DueBox) -> None:
    body = good_grant(due_box)
    rng = random.Random(11)
    cases = budget(30, 1500)
    outcomes: dict[str, int] = {}
    for _ in range(cases):
        due_box.reset()
        before = due_box.files()
        due_box.peer.script = raw(_mutated_answer(body, rng))
        status, _ = due_box.ensure()
        shown = (status.error_code or status.state.value).split(" ")[0]
        outcomes[shown] = outcomes.get(shown, 0) + 1
        if status.state is CertState.OK:
            installed = pairs.load_pair(due_box.paths)
            assert installed is not None and installed.key_pem() == due_box.old.key_pem()
            pki.verify_server_chain(
                list(installed.chain),
                [due_box.ca.cert],
                names_of(installed.key)[1],
                datetime.now(UTC),
            )
        else:
            assert due_box.files() == before, status
        assert status.detail.isprintable()
    report("box hostile issuer mutations", cases=cases, outcomes=outcomes, failures=0)
