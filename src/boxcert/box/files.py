"""The files under the box's home, and how they are read and written.

Every read is bounded and refuses anything but a regular file: a damaged home (a directory, a
FIFO or a link to ``/dev/zero`` where a file should be) gives a :class:`BoxFileError` naming the
file, never a hang or an unbounded read. Writes go through :func:`boxcert.pki.atomic_write`
(temp file with its final mode, fsync, rename); a temp file left behind by a ``kill -9`` is
removed by :func:`clean_stale_temps` on a later run.

Layout of ``<home>`` (``--home``, ``$BOXCERT_HOME``, else ``~/.boxcert``)::

    config.json   settings (0600: it holds the contract code)
    key.pem       the box's private key (0600)        } the pair, replaced together by
    cert.pem      its certificate chain, leaf first   } :mod:`boxcert.box.pair`
    state.json    the last attempt's outcome (data, not display text)
    hub.json      what the reports to the hub learnt (:mod:`boxcert.box.hublink`)
    issuer.json   what the issuer says of itself: its zone (:mod:`boxcert.box.issuerinfo`)
    clock.json    the last judgement of the box's clock (:mod:`boxcert.box.clockstate`)
    hook.json     how the last deploy hook went (:mod:`boxcert.box.hook`)
    front/        the front's own files: placeholder pair, box password hash
    box.log       the agent's log
    .lock         held while a check runs;  .pair.lock held while the pair is read or replaced
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from boxcert import pki
from boxcert.box.errors import BoxFileError

HOME_ENV = "BOXCERT_HOME"
T = TypeVar("T")

# Upper bounds of what the box reads from its own files.
SMALL_FILE_BYTES = 64 * 1024  # config.json, state.json, key.pem
CHAIN_FILE_BYTES = 1024 * 1024  # cert.pem
TRUST_FILE_BYTES = 4 * 1024 * 1024  # a CA bundle given with --trust-ca / --issuer-ca

# pki.atomic_write's temp files: ".<name>." + 8 characters of tempfile's alphabet.
_TEMP_RE = re.compile(
    r"\.(key\.pem|cert\.pem|state\.json|config\.json|hub\.json|issuer\.json|clock\.json"
    r"|hook\.json)\.[a-z0-9_]{8}"
)
# config.json (``configure``), hub.json (the reporter) and issuer.json (``configure``) are
# written outside the check lock: leave their fresh temps alone.
_UNLOCKED = frozenset({"config.json", "hub.json", "issuer.json"})
_CONFIG_TEMP_AGE = 600.0


@dataclass(frozen=True, slots=True)
class BoxPaths:
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "config.json"

    @property
    def key(self) -> Path:
        return self.home / "key.pem"

    @property
    def cert(self) -> Path:
        return self.home / "cert.pem"

    @property
    def state(self) -> Path:
        return self.home / "state.json"

    @property
    def hub_state(self) -> Path:
        return self.home / "hub.json"

    @property
    def issuer_info(self) -> Path:
        return self.home / "issuer.json"

    @property
    def clock_state(self) -> Path:
        return self.home / "clock.json"

    @property
    def hook_state(self) -> Path:
        return self.home / "hook.json"

    @property
    def front_dir(self) -> Path:
        return self.home / "front"

    @property
    def log(self) -> Path:
        return self.home / "box.log"

    @property
    def check_lock(self) -> Path:
        return self.home / ".lock"

    @property
    def pair_lock(self) -> Path:
        return self.home / ".pair.lock"


def home_from(option: str | None) -> BoxPaths:
    home = option or os.environ.get(HOME_ENV) or str(Path.home() / ".boxcert")
    return BoxPaths(Path(home))


def check_home(paths: BoxPaths) -> None:
    """BoxFileError when the home is not a directory or cannot be made (it is made when
    missing): without it the box has no key, settings or certificate to speak of."""
    if paths.home.exists() and not paths.home.is_dir():
        raise BoxFileError(paths.home, "is not a directory (it should hold the box's files)")
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BoxFileError(
            paths.home,
            f"{_reason(err)} (give --home or BOXCERT_HOME a directory this user can write)",
        ) from err


def _reason(err: OSError) -> str:
    return f"cannot be used: {err.strerror or type(err).__name__}"


def read_bounded(path: Path, limit: int) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes.

    Raises FileNotFoundError when it does not exist, BoxFileError when it is not a regular
    file, is larger than ``limit`` or cannot be read.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise BoxFileError(path, _reason(err)) from err
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise BoxFileError(path, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise BoxFileError(path, "is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise BoxFileError(path, f"is larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as err:
        raise BoxFileError(path, _reason(err)) from err
    finally:
        os.close(fd)


def read_optional(path: Path, limit: int) -> bytes | None:
    """Like :func:`read_bounded`, None when the file does not exist."""
    try:
        return read_bounded(path, limit)
    except FileNotFoundError:
        return None


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically (see :func:`boxcert.pki.atomic_write`); BoxFileError if not."""
    if path.is_dir():
        raise BoxFileError(path, "is a directory, not a file")
    try:
        pki.atomic_write(path, data, mode)
    except OSError as err:
        raise BoxFileError(path, f"cannot be written: {err.strerror or err}") from err


def load_memory(path: Path, parse: Callable[[object], T | None]) -> T | None:
    """A small JSON file the box only remembers things in (``issuer.json``, ``clock.json``,
    ``hook.json``), read by ``parse``; None when it is missing or damaged — the next reading
    replaces it, so losing it costs a request at most."""
    try:
        data = read_optional(path, SMALL_FILE_BYTES)
        return parse(json.loads(data)) if data is not None else None
    except (BoxFileError, ValueError, RecursionError):
        return None


def save_memory(path: Path, document: dict[str, Any]) -> None:
    """Replace such a file; BoxFileError when it cannot be written."""
    write_file(path, json.dumps(document).encode() + b"\n", 0o644)


def clean_stale_temps(home: Path, *, now: float | None = None) -> list[str]:
    """Remove temp files a killed writer left in ``home``; returns their names.

    Call it while holding the locks of the files concerned (the check lock covers state.json,
    the pair lock key.pem and cert.pem). config.json's and hub.json's temps are removed only
    once old.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(home))
    except OSError:
        return removed
    wall = time.time() if now is None else now
    for entry in entries:
        match = _TEMP_RE.fullmatch(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            age = wall - entry.stat(follow_symlinks=False).st_mtime
            if match.group(1) in _UNLOCKED and age < _CONFIG_TEMP_AGE:
                continue
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed
