"""kill -9 at random points of installs: the pair is always the old one or the new one.

A child process replaces the pair in a loop (another key, the same key with another
certificate, a key alone); the test kills it with SIGKILL at a random moment, then reads the pair
as the box does (which finishes or discards what the child left) and checks it is one the child
wrote whole, with no staging folder or temp file left behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from boxcert import pki
from boxcert.box import pair as pairs
from boxcert.box.files import BoxPaths
from tests.box_support import home_with_pair, issued_pair
from tests.fuzzing import budget, report
from tests.helpers import LocalTestCA

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from boxcert import pki
    from boxcert.box import pair as pairs
    from boxcert.box.files import BoxPaths

    home, material = Path(sys.argv[1]), Path(sys.argv[2])
    paths = BoxPaths(home)
    def load(name):
        key = pki.load_private_key((material / f"{name}.key").read_bytes())
        chain = pki.load_chain((material / f"{name}.pem").read_bytes())
        return pairs.CertPair(key, tuple(chain))
    a, a2, b = load("a"), load("a2"), load("b")
    lone = pki.load_private_key((material / "lone.key").read_bytes())
    steps = [lambda: pairs.install_pair(paths, b), lambda: pairs.install_pair(paths, a),
             lambda: pairs.install_pair(paths, a2), lambda: pairs.store_key(paths, lone),
             lambda: pairs.install_pair(paths, a)]
    print("ready", flush=True)
    while True:
        for step in steps:
            step()
    """
)


@pytest.mark.fuzz
def test_kill_during_installs(tmp_path: Path) -> None:
    ca = LocalTestCA.create()
    a = issued_pair(ca)
    a2 = issued_pair(ca, a.key, days=60)  # same key, another certificate
    b = issued_pair(ca)  # another key
    lone = pki.make_ec_key()
    material = tmp_path / "material"
    material.mkdir()
    for name, pair in (("a", a), ("a2", a2), ("b", b)):
        (material / f"{name}.key").write_bytes(pair.key_pem())
        (material / f"{name}.pem").write_bytes(pair.chain_pem())
    (material / "lone.key").write_bytes(pki.private_key_pem(lone))
    whole = {
        (a.key_pem(), a.chain_pem()): "a",
        (a2.key_pem(), a2.chain_pem()): "a2",
        (b.key_pem(), b.chain_pem()): "b",
        (pki.private_key_pem(lone), None): "lone key",
    }
    paths: BoxPaths = home_with_pair(tmp_path / "box", a)
    rng = random.Random(7)
    kills = budget(8, 150)
    seen: dict[str, int] = {}
    recovered: dict[str, int] = {}
    torn = 0
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(paths.home), str(material)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            # Let it run a random while: a few installs at most, and rarely none at all.
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=rng.uniform(0.0, 0.08))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
            if child.stdout is not None:
                child.stdout.close()
        with pairs._pair_lock(paths):
            action = pairs.recover(paths)
        recovered[action or "nothing"] = recovered.get(action or "nothing", 0) + 1
        files = pairs.read_pair(paths)
        state = whole.get((files.key_pem or b"", files.cert_pem))
        if state is None:
            torn += 1
        else:
            seen[state] = seen.get(state, 0) + 1
        leftovers = sorted(
            p.name
            for p in paths.home.iterdir()
            if p.name not in {"key.pem", "cert.pem", ".pair.lock"}
        )
        assert leftovers == [], leftovers  # no staging, no temp file after a later run
    report("box kill -9 during installs", kills=kills, torn=torn, states=seen, recoveries=recovered)
    assert torn == 0
    assert len(seen) >= 2 or kills < 8  # the kills landed at different points
