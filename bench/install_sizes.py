"""What each role costs to install: a fresh virtualenv per extra, its installed size, and proof
that the role starts with only that (its modules import; `--help` of its commands runs).

    .venv/bin/python bench/install_sizes.py [--extras box,issuer,hub,dns,issuer+postgres,all]

Builds boxcert's wheel once, then for each extra makes a virtualenv in a temporary directory,
installs the wheel with that extra (packages come from PyPI or pip's cache), and measures the
virtualenv's site-packages. A box installs the base package only (`pip install boxcert`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What each extra must be able to run, proven by importing it in the new virtualenv.
ROLE_MODULES = {
    "box": [
        "boxcert.box.cli",
        "boxcert.box.runner",
        "boxcert.box.front.server",
        "boxcert.box.diagnosis.dns_probe",
    ],
    "issuer": [
        "boxcert.issuer.cli",
        "boxcert.issuer.site",
        "boxcert.issuer.server",
        "boxcert.issuer.ca.acme",
    ],
    "hub": ["boxcert.hub.cli", "boxcert.hub.server", "boxcert.hub.app"],
    "dns": ["boxcert.dns.cli", "boxcert.dns.server"],
    "postgres": ["psycopg"],
}
HEAVY = ("sqlalchemy", "alembic", "acme", "pydantic", "psycopg")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def measure(wheel: Path, extra: str, workdir: Path) -> tuple[float, float, list[str]]:
    venv = workdir / f"venv-{extra.replace('+', '-')}"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    spec = str(wheel) if extra == "box" else f"{wheel}[{extra.replace('+', ',')}]"
    started = time.monotonic()
    run([*pip, "install", spec])
    seconds = time.monotonic() - started
    site = next((venv / "lib").glob("python3*/site-packages"))
    # pip and setuptools come with every virtualenv: not ours to count.
    base = sum(size_mb(p) for p in site.iterdir() if p.name.startswith(("pip", "setuptools")))
    roles = (
        ["box"]
        if extra == "box"
        else ["box", *extra.replace("all", "issuer+hub+dns+postgres").split("+")]
    )
    modules = [m for role in roles for m in ROLE_MODULES[role]]
    check = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return size_mb(site) - base, seconds, [f"DOES NOT START: {last}"]
    return size_mb(site) - base, seconds, [done.stdout.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="box,issuer,hub,dns,issuer+postgres,all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="boxcert-sizes-") as tmp:
        work = Path(tmp)
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(REPO)])
        wheel = next(work.glob("boxcert-*.whl"))
        print(f"{'install':<28} {'site-packages MB':>16} {'install s':>10}  heavy modules loaded")
        for extra in args.extras.split(","):
            mb, seconds, loaded = measure(wheel, extra, work)
            name = "pip install boxcert"
            if extra != "box":
                name = f"boxcert[{extra.replace('+', ',')}]"
            print(f"{name:<28} {mb:>16.1f} {seconds:>10.1f}  {loaded[0]}")


if __name__ == "__main__":
    main()
