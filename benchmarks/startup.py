"""Start-up time of the ``keyark`` command (issue 11, section 3).

Usage::

    .venv/bin/python benchmarks/startup.py [--runs 15] [--json out.json]

Times whole processes (``subprocess``, wall clock, median of ``--runs`` after one
warm-up) on a small repository with a warm cache. The commands run in turn, one run of
each per round, so a change of the machine's load (other jobs on a shared host) weighs on
every row alike instead of on whichever row was running:

- ``python -c pass`` (the floor), ``keyark --help``, ``keyark version``: target
  ``--help`` and ``version`` within 0.15 s of the floor;
- ``keyark snapshots`` against ``restic snapshots`` on the same small tree: target
  within 0.3 s of restic. keyark is timed twice, with the passphrase (Argon2id) and
  with a key file (no KDF); each passphrase KDF is also timed alone in this process, in
  the same rounds (keyark's Argon2id with the slot's parameters, restic's scrypt with its
  key's ``N``/``r``/``p``), so the comparison can be read with the KDF excluded.

restic must be on PATH for the restic rows (they are left out otherwise).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PASSWORD = "startup benchmark passphrase"
HELP_TARGET = 0.15
SNAPSHOTS_TARGET = 0.3


def command(argv: Sequence[str], env: dict[str, str]) -> Callable[[], object]:
    """A job running ``argv`` as a process (its output discarded)."""
    return functools.partial(subprocess.run, argv, env=env, check=True, stdout=subprocess.DEVNULL)


def timed(jobs: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall-clock seconds of each job over ``runs`` rounds (each round runs every
    job once, in turn), after one warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for index in range(runs + 1):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            if index:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def keyark_command() -> str:
    found = Path(sys.executable).with_name("keyark")
    return str(found) if found.exists() else shutil.which("keyark") or "keyark"


def make_tree(root: Path) -> Path:
    """A small tree of key-like files."""
    for index in range(20):
        folder = root / f"dir{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"key{index}.pem").write_text(f"-----BEGIN KEY {index}-----\n" * 20)
    return root


def keyark_kdf() -> Callable[[], object]:
    """keyark's passphrase KDF alone: Argon2id with the parameters ``init`` gives a slot."""
    from keyark.crypto import kdf

    params = kdf.default_params()
    return functools.partial(kdf.derive, PASSWORD.encode(), params)


def restic_kdf(repo: Path) -> Callable[[], object]:
    """restic's scrypt alone, with the ``N``, ``r``, ``p`` and salt of the repository's key."""
    key_file = next((repo / "keys").iterdir())
    key = json.loads(key_file.read_text())
    n, r, p = int(key["N"]), int(key["r"]), int(key["p"])
    salt = base64.b64decode(key["salt"])
    return functools.partial(
        hashlib.scrypt,
        PASSWORD.encode(),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + 2**20,
        dklen=64,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", dest="json_out", metavar="FILE")
    args = parser.parse_args(argv)
    keyark = keyark_command()
    work = Path(tempfile.mkdtemp(prefix="keyark-startup-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "RESTIC_"))}
        # The warm-up run writes bytecode; without it every run would compile edited modules.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        tree = make_tree(work / "tree")
        kenv = dict(
            env,
            KEYARK_REPOSITORY=str(work / "keyark"),
            KEYARK_PASSWORD=PASSWORD,
            KEYARK_CACHE_DIR=str(work / "cache"),
        )
        subprocess.run([keyark, "init"], env=kenv, check=True, capture_output=True)
        subprocess.run([keyark, "backup", "-q", str(tree)], env=kenv, check=True)
        key_file = work / "bench.key"
        subprocess.run(
            [keyark, "key", "add", "--key-file", str(key_file)],
            env=kenv,
            check=True,
            capture_output=True,
        )
        no_kdf = dict(kenv, KEYARK_KEY_FILE=str(key_file))
        del no_kdf["KEYARK_PASSWORD"]
        jobs = {
            "python -c pass": command([sys.executable, "-c", "pass"], env),
            "keyark --help": command([keyark, "--help"], env),
            "keyark version": command([keyark, "version"], env),
            "keyark snapshots (passphrase)": command([keyark, "snapshots"], kenv),
            "keyark snapshots (key file, no KDF)": command([keyark, "snapshots"], no_kdf),
            "keyark KDF alone": keyark_kdf(),
        }
        restic = shutil.which("restic")
        if restic:
            renv = dict(env, RESTIC_REPOSITORY=str(work / "restic"), RESTIC_PASSWORD=PASSWORD)
            renv["RESTIC_CACHE_DIR"] = str(work / "restic-cache")
            subprocess.run([restic, "init"], env=renv, check=True, capture_output=True)
            subprocess.run([restic, "backup", "-q", str(tree)], env=renv, check=True)
            jobs["restic snapshots"] = command([restic, "snapshots"], renv)
            jobs["restic KDF alone"] = restic_kdf(work / "restic")
        figures = timed(jobs, args.runs)
        report(figures)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(figures: dict[str, float]) -> None:
    """The figures, then each target with its margin."""
    for name, seconds in figures.items():
        print(f"{name:40s} {seconds:8.3f} s")
    floor = figures["python -c pass"]
    for name in ("keyark --help", "keyark version"):
        over = figures[name] - floor
        verdict = "met" if over <= HELP_TARGET else "MISSED"
        print(f"{name}: {over:+.3f} s over python -c pass (target {HELP_TARGET} s): {verdict}")
    if "restic snapshots" in figures:
        restic = figures["restic snapshots"]
        restic_no_kdf = restic - figures["restic KDF alone"]
        for label, key in (
            ("with both KDFs", "keyark snapshots (passphrase)"),
            ("KDF excluded", "keyark snapshots (key file, no KDF)"),
        ):
            base = restic if label == "with both KDFs" else restic_no_kdf
            over = figures[key] - base
            verdict = "met" if over <= SNAPSHOTS_TARGET else "MISSED"
            print(
                f"snapshots {label}: keyark {over:+.3f} s over restic "
                f"(target {SNAPSHOTS_TARGET} s): {verdict}"
            )


if __name__ == "__main__":
    sys.exit(main())
