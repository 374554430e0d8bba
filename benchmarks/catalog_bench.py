"""Catalog speed: list 1,000 snapshots and find a file across them.

Builds a repository with one real backup of a small key tree, then adds 999
snapshots (every tenth one with a changed file, so trees differ), and times the
installed ``keyark`` command: ``snapshots`` with a cold catalog (built from the
repository), ``snapshots`` warm, ``find`` warm and ``ls`` warm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.repo.snapshot import Snapshot


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keyark-catalog-"))
    try:
        source = work / "src"
        for i in range(args.files):
            path = source / f"d{i % 50:02}" / f"key{i:05}.pem"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"-----BEGIN KEY {i}-----\n")
        url = str(work / "repo")
        ops.init_repository(url, b"pw").close()
        ctx = ops.Context(cache_dir=work / "build-cache")
        with ops.open_repository(url, Credentials(passphrase=b"pw")) as repo:
            ops.backup(repo, [str(source)], ctx=ctx)
            base = ops.snapshots(repo, ctx=ctx)[0]
            for n in range(1, args.snapshots):
                if n % 10 == 0:
                    (source / "d00" / "key00000.pem").write_text(f"rotated {n}\n")
                    ops.backup(repo, [str(source)], ctx=ctx)
                    continue
                repo.save_snapshot(
                    Snapshot(
                        time=base.time + timedelta(minutes=n),
                        host=f"h{n % 7}",
                        username="u",
                        paths=base.paths,
                        tree=base.tree,
                        tags=["bench"],
                    )
                )
        keyark = str(Path(sys.executable).with_name("keyark"))
        env = dict(
            os.environ,
            KEYARK_REPOSITORY=url,
            KEYARK_PASSWORD="pw",
            KEYARK_CACHE_DIR=str(work / "cache"),
        )
        rows = [
            ("snapshots (cold catalog)", timed([keyark, "snapshots", "--json"], env)),
            ("snapshots (warm)", timed([keyark, "snapshots", "--json"], env)),
            ("find key01999.pem across all (warm)", timed([keyark, "find", "key01999.pem"], env)),
            ("find key01999.pem again", timed([keyark, "find", "key01999.pem"], env)),
            ("ls latest", timed([keyark, "ls", "latest"], env)),
            ("keyark --help (start-up alone)", timed([keyark, "--help"], env)),
        ]
        print(f"{args.snapshots} snapshots of {args.files} files each")
        for name, seconds in rows:
            print(f"{name:40} {seconds:7.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
