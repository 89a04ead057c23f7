"""Damaged box files: one clear error each, never a traceback or a hang (issue 7, item 11).

Each case damages one file under a configured box's home, then runs the real CLI in-process
(in a thread, so a hang fails the test instead of stopping it). Every ``--json`` command must
print one JSON object; no command may print a traceback.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from boxcert.box.files import BoxPaths
from boxcert.cli import main
from boxcert.devstack import free_port
from tests.fuzzing import budget, report
from tests.helpers import LocalTestCA

GUARD = 60  # seconds: a hang guard only


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, object]:
        value = json.loads(self.stdout)
        assert isinstance(value, dict), self.stdout
        return value


def run_cli(home: Path, *args: str) -> Run:
    result: list[Result] = []
    thread = threading.Thread(
        target=lambda: result.append(CliRunner().invoke(main, ["box", "--home", str(home), *args])),
        daemon=True,
    )
    thread.start()
    thread.join(GUARD)
    assert result, f"`box {' '.join(args)}` hung"
    out = result[0]
    if out.exception is not None and not isinstance(out.exception, SystemExit):
        raise AssertionError(f"`box {' '.join(args)}` crashed") from out.exception
    assert "Traceback" not in out.output
    return Run(out.exit_code, out.stdout, out.stderr)


def configured_home(tmp_path: Path) -> BoxPaths:
    paths = BoxPaths(tmp_path / "box")
    paths.home.mkdir(parents=True)
    ca = LocalTestCA.create().write(tmp_path / "ca.pem")
    paths.config.write_text(
        json.dumps(
            {
                "server": "http://127.0.0.1:8069",
                "db_uuid": "u",
                "enterprise_code": "c",
                "issuer": f"http://127.0.0.1:{free_port()}",  # nothing listens: fails at once
                "trust_ca": [str(ca)],
            }
        )
    )
    return paths


def write(name: str, content: str | bytes) -> Callable[[BoxPaths], None]:
    def damage(paths: BoxPaths) -> None:
        path = paths.home / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)

    return damage


def replace(name: str, make: Callable[[Path], object]) -> Callable[[BoxPaths], None]:
    def damage(paths: BoxPaths) -> None:
        (paths.home / name).unlink()
        make(paths.home / name)

    return damage


def directory(name: str) -> Callable[[BoxPaths], None]:
    return lambda paths: (paths.home / name).mkdir()


def fifo(name: str) -> Callable[[BoxPaths], None]:
    return lambda paths: os.mkfifo(paths.home / name)


def link(name: str, target: str) -> Callable[[BoxPaths], None]:
    return lambda paths: (paths.home / name).symlink_to(target)


def config_field(**fields: object) -> Callable[[BoxPaths], None]:
    def damage(paths: BoxPaths) -> None:
        paths.config.write_text(json.dumps({**json.loads(paths.config.read_text()), **fields}))

    return damage


# name: (damage, text the error must show in status and ensure; None: the commands work)
CASES: dict[str, tuple[Callable[[BoxPaths], None], str | None]] = {
    "config.json []": (write("config.json", "[]"), "must hold a JSON object of settings"),
    "config.json null": (write("config.json", "null"), "must hold a JSON object of settings"),
    "config.json not json": (write("config.json", "{ oops"), "is not valid JSON"),
    "config.json numeric zone": (config_field(zone=5), "zone: must be text, not a number"),
    "config.json bad zone": (config_field(zone="a..b"), "zone: not a DNS zone"),
    "config.json trust_ca as text": (
        config_field(trust_ca="/etc/ssl/ca.pem"),
        "trust_ca: must be a list of file paths",
    ),
    "config.json https_port as text": (config_field(https_port="443"), "https_port"),
    "config.json a directory": (
        replace("config.json", lambda path: path.mkdir()),
        "config.json is a directory",
    ),
    "config.json a fifo": (replace("config.json", os.mkfifo), "config.json is not a regular file"),
    "config.json huge": (write("config.json", b" " * 100_000), "larger than"),
    "state.json a directory": (directory("state.json"), "state.json is a directory"),
    "state.json garbage": (write("state.json", b"\x00\xff{"), None),
    "box.log a directory": (directory("box.log"), None),
    ".lock a directory": (directory(".lock"), None),  # status needs no check lock
    ".pair.lock a directory": (directory(".pair.lock"), ".pair.lock is a directory"),
    "cert.pem a fifo": (fifo("cert.pem"), "cert.pem is not a regular file"),
    "cert.pem to /dev/zero": (link("cert.pem", "/dev/zero"), "cert.pem is not a regular file"),
    "cert.pem a directory": (directory("cert.pem"), "cert.pem is a directory"),
    "cert.pem garbage": (
        write("cert.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"),
        "certificate file",
    ),
    "key.pem a fifo": (fifo("key.pem"), "key.pem is not a regular file"),
    "key.pem to /dev/zero": (link("key.pem", "/dev/zero"), "key.pem is not a regular file"),
    "key.pem garbage": (write("key.pem", "garbage"), "key file"),
    "trust_ca missing": (config_field(trust_ca=["/nonexistent/ca.pem"]), None),
    "trust_ca a directory": (config_field(trust_ca=["/"]), None),
    ".pair-next without manifest": (directory(".pair-next"), None),
}


@pytest.mark.fuzz
@pytest.mark.parametrize("case", list(CASES))
def test_damaged_file(case: str, tmp_path: Path) -> None:
    damage, message = CASES[case]
    paths = configured_home(tmp_path)
    damage(paths)
    for command in ("status", "ensure"):
        result = run_cli(paths.home, command, "--json")
        report_ = result.json  # one JSON object, whatever happened
        assert result.code == 1  # nothing here can be ok
        assert report_["status"] in ("error", "need_refresh")
        if message is not None:
            assert message in str(report_["detail"]), (command, report_)
        text = run_cli(paths.home, command)  # the human form: no traceback either
        assert text.code == 1


def test_a_damaged_lock_stops_ensure_with_a_clear_error(tmp_path: Path) -> None:
    paths = configured_home(tmp_path)
    paths.check_lock.mkdir()
    result = run_cli(paths.home, "ensure", "--json")
    assert ".lock is a directory" in str(result.json["detail"])
    assert result.code == 1


def test_an_unusable_log_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    paths = configured_home(tmp_path)
    paths.log.mkdir()
    result = run_cli(paths.home, "status")
    assert "warning: cannot write the box log" in result.stderr
    assert "HTTPS certificate: NEEDS REFRESH" in result.stdout


def test_unreadable_trust_ca_is_named(tmp_path: Path) -> None:
    paths = configured_home(tmp_path)
    config_field(trust_ca=["/nonexistent/ca.pem"])(paths)
    result = run_cli(paths.home, "ensure", "--json")
    assert result.json["detail"] == "config.json: trust_ca: /nonexistent/ca.pem does not exist"
    directory_ca = run_cli(paths.home, "configure", "--trust-ca", "/")
    assert directory_ca.code == 2  # click refuses a directory itself
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    bad = run_cli(paths.home, "configure", "--trust-ca", str(not_pem))
    assert bad.code == 2 and "no PEM certificate found" in bad.stderr


def test_configure_repairs_a_damaged_field(tmp_path: Path) -> None:
    paths = configured_home(tmp_path)
    config_field(zone=5)(paths)
    assert run_cli(paths.home, "configure", "--identifier", "x").code == 1  # still damaged
    fixed = run_cli(paths.home, "configure", "--zone", "iot.example.com")
    assert fixed.code == 0, fixed.stderr
    assert json.loads(fixed.stdout)["zone"] == "iot.example.com"
    write("config.json", "[]")(paths)
    refused = run_cli(paths.home, "configure", "--zone", "iot.example.com")
    assert refused.code == 1 and "remove the file to start afresh" in refused.stderr


def test_a_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    for command in ("status", "ensure"):
        result = run_cli(home, command, "--json")
        assert result.json["status"] == "error"
        assert "home is not a directory" in str(result.json["detail"])


@pytest.mark.fuzz
def test_random_bytes_in_box_files(tmp_path: Path) -> None:
    rng = random.Random(5)
    cases = budget(20, 600)
    names = ["config.json", "state.json", "key.pem", "cert.pem"]
    outcomes: dict[str, int] = {}
    for index in range(cases):
        paths = configured_home(tmp_path / str(index))
        name = rng.choice(names)
        size = rng.choice([0, 1, 16, 200, 5000])
        content = bytes(rng.randrange(256) for _ in range(size))
        if rng.random() < 0.5 and name != "config.json":  # PEM armour around the noise
            kind = "CERTIFICATE" if name == "cert.pem" else "PRIVATE KEY"
            content = (
                f"-----BEGIN {kind}-----\n".encode()
                + content
                + f"\n-----END {kind}-----\n".encode()
            )
        (paths.home / name).write_bytes(content)
        result = run_cli(paths.home, rng.choice(["status", "ensure"]), "--json")
        shown = str(result.json["error_code"] or result.json["status"])
        outcomes[shown] = outcomes.get(shown, 0) + 1
    report("box damaged files, random bytes", cases=cases, outcomes=outcomes, failures=0)
