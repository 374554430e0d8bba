"""Fleet load test (issue 18 section 3): many write-only agents backing up to one S3 repository.

Not part of the test suite. ``python benchmarks/fleet_load.py --agents 50 --rounds 10``:

1. starts ``moto_server`` on a free loopback port (or uses ``--s3-endpoint``), creates
   ``s3://fleet/repo`` and, per simulated host ``host-NNN``, a small key tree and a
   write-only agent credential (``keyark agent add host-NNN``);
2. round 0: every agent backs up its tree at once, each in its own ``keyark backup``
   process (``KEYARK_AGENT_CREDENTIAL``, ``--host host-NNN``), at most ``--parallel`` at
   a time; then ``--rounds`` rounds changing ``--changes`` files per tree;
3. maintenance: ``prune`` (nothing is forgotten: it only compacts the index), then
   ``forget --keep-last 3 --prune``.

Measured: wall time per round; S3 requests, counted from moto_server's request log (one
line per HTTP request; the count does not depend on machine load) and divided by the
backups of the round; index objects and their bytes (S3 listing); and, at several
points, a full-key ``snapshots`` and ``restore`` (peak RSS from ``/usr/bin/time``, requests,
wall time) and "opening the repository": a child process that opens it and loads the
whole index (time, requests, peak RSS). The load average is recorded with each.
Results go to ``--out`` (JSON) and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSWORD = "fleet-benchmark-passphrase-not-secret"
BUCKET_URL = "s3://fleet/repo"
#: moto_server's request log line; statuses other than 200 are wrapped in ANSI colours.
REQUEST_LINE = re.compile(rb'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|DELETE|HEAD) ')
#: A request line: method, and the repository prefix (or the LIST of one).
REQUEST_KIND = re.compile(
    rb'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|DELETE|HEAD) '
    rb"/fleet(?:/repo/([a-z]+)|\?list-type=2&prefix=repo/([a-z]+))"
)
KEYARK = str(Path(sys.executable).with_name("keyark"))
#: Requests per backup shown by kind: lock reads, pack listings and pack size checks.
KINDS_SHOWN = ("GET locks", "LIST data", "HEAD data")
OPEN_SCRIPT = """
import os, sys, time
from keyark.crypto.slots import Credentials
from keyark.backends.registry import BackendOptions
start = time.monotonic()
from keyark.storage import open_repository
repo = open_repository(sys.argv[1], Credentials(passphrase=os.environ["KEYARK_PASSWORD"].encode()),
    backend_options=BackendOptions({"s3_endpoint": sys.argv[2]}))
repo.blobs.load_index()
print(time.monotonic() - start, len(repo.blobs.index), len(repo.packs.index_names()))
"""


@dataclass
class Run:
    """One child process: exit code, wall seconds, peak RSS (KiB), S3 requests."""

    code: int
    seconds: float
    rss_kib: int
    requests: int = 0
    stdout: str = ""


@dataclass
class Fleet:
    """The repository, the moto server and the simulated hosts."""

    work: Path
    endpoint: str
    log: Path | None
    agents: int
    env: dict[str, str] = field(default_factory=dict)
    shared_state: bool = False
    results: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ plumbing
    def requests(self) -> int:
        """HTTP requests moto_server has logged so far."""
        if self.log is None:
            return 0
        return len(REQUEST_LINE.findall(self.log.read_bytes()))

    def log_size(self) -> int:
        return 0 if self.log is None else self.log.stat().st_size

    def request_kinds(self, since: int) -> dict[str, int]:
        """Requests logged after byte ``since``, by kind (``GET locks``, ``LIST data``, ...)."""
        if self.log is None:
            return {}
        with open(self.log, "rb") as log:
            log.seek(since)
            text = log.read()
        kinds: dict[str, int] = {}
        for method, prefix, listed in REQUEST_KIND.findall(text):
            kind = f"LIST {listed.decode()}" if listed else f"{method.decode()} {prefix.decode()}"
            kinds[kind] = kinds.get(kind, 0) + 1
        return dict(sorted(kinds.items(), key=lambda item: -item[1]))

    def run(self, args: list[str], extra: dict[str, str] | None = None) -> Run:
        """``keyark ARGS`` (or any argv starting with ``python``) with its peak RSS."""
        if args[0] == sys.executable:
            argv = args
        else:  # every command needs the endpoint (there is no environment variable)
            argv = [KEYARK, *args, "--s3-endpoint", self.endpoint]
        # Peak RSS through /usr/bin/time: a direct child's ru_maxrss starts at this
        # process's RSS at fork time (Linux keeps it across exec), so wait4 overstates it.
        rss_file = self.work / f".rss-{threading.get_ident()}"
        argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
        before = self.requests()
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            env={**self.env, **(extra or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out = process.stdout.read() if process.stdout else b""
        process.wait()
        rss = rss_file.read_text().split()[-1] if rss_file.exists() else "0"
        run = Run(
            process.returncode,
            time.monotonic() - started,
            int(rss) if rss.isdigit() else 0,
            stdout=out.decode(errors="replace"),
        )
        run.requests = self.requests() - before
        if run.code != 0:
            raise SystemExit(f"{' '.join(argv[:4])} exited {run.code}:\n{run.stdout[-2000:]}")
        return run

    def host(self, number: int) -> str:
        return f"host-{number:03}"

    def agent_env(self, number: int) -> dict[str, str]:
        return {
            "KEYARK_AGENT_CREDENTIAL": str(self.work / "creds" / f"{self.host(number)}.cred"),
            "KEYARK_PASSWORD": "",
            "KEYARK_CACHE_DIR": str(self.work / "agent-cache" / self.host(number)),
            # Its own state directory, as on a real host: its own audit writer chain
            # (--shared-state: one for all, as several agents of one machine share it).
            "KEYARK_STATE_DIR": str(
                self.work / "agent-state" / ("shared" if self.shared_state else self.host(number))
            ),
        }

    # ------------------------------------------------------------------ phases
    def setup(self, files: int) -> None:
        (self.work / "creds").mkdir(parents=True)
        self.run(["init"])
        rng = random.Random(18)
        shared = rng.randbytes(1500)  # the same CA bundle on every host
        for number in range(self.agents):
            host = self.host(number)
            self.run(["agent", "add", host, "--out", str(self.work / "creds" / f"{host}.cred")])
            tree = self.work / "trees" / host
            (tree / "private").mkdir(parents=True)
            (tree / "ca-bundle.pem").write_bytes(shared)
            for index in range(files):
                (tree / "private" / f"key{index}.pem").write_bytes(rng.randbytes(1700))

    def change(self, round_number: int, changes: int) -> None:
        rng = random.Random(round_number)
        for number in range(self.agents):
            tree = self.work / "trees" / self.host(number) / "private"
            names = sorted(tree.iterdir())
            for path in rng.sample(names, min(changes, len(names))):
                path.write_bytes(rng.randbytes(1700))

    def backup_round(self, label: str, parallel: int) -> dict[str, Any]:
        before = self.requests()
        offset = self.log_size()
        load = os.getloadavg()[0]
        started = time.monotonic()

        def one(number: int) -> Run:
            tree = str(self.work / "trees" / self.host(number))
            args = ["backup", tree, "--host", self.host(number), "--quiet"]
            return self.run(args, self.agent_env(number))

        with ThreadPoolExecutor(parallel) as pool:
            runs = list(pool.map(one, range(self.agents)))
        wall = time.monotonic() - started
        requests = self.requests() - before
        row = {
            "round": label,
            "backups": len(runs),
            "wall_s": round(wall, 1),
            "backup_s_median": round(sorted(r.seconds for r in runs)[len(runs) // 2], 2),
            "backup_rss_kib_max": max(r.rss_kib for r in runs),
            "requests": requests,
            "requests_per_backup": round(requests / len(runs), 1),
            "load": round(load, 1),
            "kinds_per_backup": {
                k: round(v / len(runs), 1) for k, v in self.request_kinds(offset).items()
            },
        }
        print(json.dumps(row), flush=True)
        return row

    def index_objects(self) -> dict[str, int]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        counts: dict[str, int] = {}
        for prefix in ("index/", "data/", "snapshots/", "keys/", "audit/"):
            objects = size = 0
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket="fleet", Prefix=f"repo/{prefix}"
            ):
                for item in page.get("Contents", []):
                    objects += 1
                    size += item["Size"]
            counts[f"{prefix[:-1]}_objects"] = objects
            counts[f"{prefix[:-1]}_bytes"] = size
        return counts

    def measure(self, label: str) -> dict[str, Any]:
        """Index size, opening time, and a full-key snapshots and restore."""
        load = os.getloadavg()[0]
        opened = self.run([sys.executable, "-c", OPEN_SCRIPT, BUCKET_URL, self.endpoint])
        open_s, blobs, index_files = opened.stdout.split()[-3:]
        snapshots = self.run(["snapshots", "--json"])
        count = len(json.loads(snapshots.stdout.strip().splitlines()[-1]))
        target = self.work / "restore" / label
        restore = self.run(
            ["restore", "latest", "--host", self.host(0), "--target", str(target), "--quiet"]
        )
        shutil.rmtree(target, ignore_errors=True)
        row = {
            "point": label,
            "snapshots": count,
            **self.index_objects(),
            "indexed_blobs": int(blobs),
            "open_s": round(float(open_s), 2),
            "open_requests": opened.requests,
            "open_rss_kib": opened.rss_kib,
            "snapshots_s": round(snapshots.seconds, 2),
            "snapshots_requests": snapshots.requests,
            "snapshots_rss_kib": snapshots.rss_kib,
            "restore_s": round(restore.seconds, 2),
            "restore_requests": restore.requests,
            "restore_rss_kib": restore.rss_kib,
            "load": round(load, 1),
        }
        assert int(index_files) == row["index_objects"]
        print(json.dumps(row), flush=True)
        return row

    def maintain(self, args: list[str], label: str) -> dict[str, Any]:
        load = os.getloadavg()[0]
        run = self.run([*args, "--json"])
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        row = {
            "step": label,
            "wall_s": round(run.seconds, 1),
            "requests": run.requests,
            "rss_kib": run.rss_kib,
            "index_files_written": summary.get("index_files_written"),
            "index_files_deleted": summary.get("index_files_deleted"),
            "packs_deleted": summary.get("packs_deleted"),
            "load": round(load, 1),
        }
        print(json.dumps(row), flush=True)
        return row


def index_memory(blobs: int, per_pack: int = 40) -> dict[str, Any]:
    """Bytes the in-memory master index holds per blob (tracemalloc; load does not change it)."""
    import hashlib
    import tracemalloc

    from keyark.repo.index import MasterIndex
    from keyark.repo.pack import PackEntry

    tracemalloc.start()  # ids made inside: as when decoded from index files
    index = MasterIndex()
    for start in range(0, blobs, per_pack):
        entries = [
            PackEntry(1, hashlib.sha256(n.to_bytes(8, "big")).digest(), n * 2000, 2000, 4000, 1)
            for n in range(start, min(blobs, start + per_pack))
        ]
        pack_id = hashlib.sha256(b"pack" + start.to_bytes(8, "big")).digest()
        index.add_pack(pack_id, 80_000 * per_pack, entries, b"k" * 8, True)
        del entries
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "blobs": blobs,
        "blobs_per_pack": per_pack,
        "bytes_per_blob": round(current / blobs, 1),
        "peak_bytes_per_blob": round(peak / blobs, 1),
    }


def render(results: dict[str, Any]) -> str:
    """The results as Markdown tables (for benchmarks/FLEET.md)."""
    lines: list[str] = []

    def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in rows:
            lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
        lines.append("")

    for row in results["rounds"]:  # the requests the scale fixes of issue 18 changed
        kinds = row.get("kinds_per_backup", {})
        for kind in KINDS_SHOWN:
            row[kind] = kinds.get(kind, 0)
    table(
        results["rounds"],
        ["round", "backups", "wall_s", "backup_s_median", "backup_rss_kib_max", "requests",
         "requests_per_backup", *KINDS_SHOWN, "load"],
    )  # fmt: skip
    table(
        results["measures"],
        ["point", "snapshots", "index_objects", "index_bytes", "data_objects", "indexed_blobs",
         "open_s", "open_requests", "open_rss_kib", "snapshots_s", "snapshots_requests",
         "snapshots_rss_kib", "restore_s", "restore_requests", "restore_rss_kib", "load"],
    )  # fmt: skip
    table(
        results["maintenance"],
        ["step", "wall_s", "requests", "rss_kib", "index_files_written", "index_files_deleted",
         "packs_deleted", "load"],
    )  # fmt: skip
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(work: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = work / "moto.log"
    program = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            [program, "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, f"http://127.0.0.1:{port}", log
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("moto_server did not start")


def versions() -> dict[str, str]:
    import boto3
    import moto

    import keyark

    return {
        "keyark": keyark.__version__,
        "python": sys.version.split()[0],
        "moto": moto.__version__,
        "boto3": boto3.__version__,
        "cpus": str(os.cpu_count()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--files", type=int, default=8, help="key files per host")
    parser.add_argument("--changes", type=int, default=3, help="files changed per round")
    parser.add_argument("--parallel", type=int, default=0, help="backups at once (0: all)")
    parser.add_argument("--measure-every", type=int, default=5, help="rounds between measures")
    parser.add_argument("--s3-endpoint", default="", help="use this S3 server (no request count)")
    parser.add_argument(
        "--shared-state", action="store_true", help="one state directory for every agent"
    )
    parser.add_argument("--work", type=Path, default=Path("benchmarks/work/fleet"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/fleet.json"))
    parser.add_argument(
        "--index-memory", type=int, default=0, help="only measure the index's bytes per blob"
    )
    parser.add_argument("--render", type=Path, help="print a results file as Markdown")
    options = parser.parse_args(argv)
    if options.render:
        print(render(json.loads(options.render.read_text())))
        return 0
    if options.index_memory:
        print(json.dumps(index_memory(options.index_memory)))
        return 0
    if options.work.exists():
        shutil.rmtree(options.work)
    options.work.mkdir(parents=True)
    server = None
    if options.s3_endpoint:
        endpoint, log = options.s3_endpoint, None
    else:
        server, endpoint, log = start_moto(options.work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "AWS_"))}
    env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "KEYARK_REPOSITORY": BUCKET_URL,
        "KEYARK_PASSWORD": PASSWORD,
        "KEYARK_CACHE_DIR": str(options.work / "cache"),
        "KEYARK_STATE_DIR": str(options.work / "state"),
        "KEYARK_TEST_FAST_KDF": "1",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    fleet = Fleet(
        options.work, endpoint, log, options.agents, env, shared_state=options.shared_state
    )
    parallel = options.parallel or options.agents
    started = time.monotonic()
    results: dict[str, Any] = {
        "options": {k: str(v) for k, v in vars(options).items()},
        "versions": versions(),
        "rounds": [],
        "measures": [],
        "maintenance": [],
    }
    try:
        fleet.setup(options.files)
        results["rounds"].append(fleet.backup_round("0", parallel))
        results["measures"].append(fleet.measure("after round 0"))
        for number in range(1, options.rounds + 1):
            fleet.change(number, options.changes)
            results["rounds"].append(fleet.backup_round(str(number), parallel))
            if number % options.measure_every == 0 or number == options.rounds:
                results["measures"].append(fleet.measure(f"after round {number}"))
        results["maintenance"].append(fleet.maintain(["prune"], "prune (compaction only)"))
        results["measures"].append(fleet.measure("after prune"))
        keep = ["forget", "--keep-last", "3", "--prune"]
        results["maintenance"].append(fleet.maintain(keep, "forget --keep-last 3 --prune"))
        results["measures"].append(fleet.measure("after forget --prune"))
    finally:
        results["total_s"] = round(time.monotonic() - started, 1)
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(results, indent=2))
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(f"total {results['total_s']}s; results in {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
