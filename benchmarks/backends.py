"""Backup and restore throughput of keyark over each storage backend on loopback servers.

Usage::

    .venv/bin/python benchmarks/backends.py [--size-mib 256] [--backends local,sftp,s3,...]
        [--work DIR] [--json out.json] [--no-pin]

The corpus is the ``big`` corpus of ``corpora.py`` (``text.log``: compressible log lines,
``random.bin``: seeded random bytes, ``--size-mib`` each), generated once under
``WORK/corpora`` and read once before the runs, so every backend reads it from a warm page
cache. For each backend a fresh server is started on 127.0.0.1 the way the test fixtures
start it (``tests/conformance/servers.py``: sshd, moto_server, Azurite and fake-gcs-server
in memory, pyftpdlib over a directory), then, with the installed keyark: ``init``,
``backup`` of the corpus, ``restore --target`` of it (checked against the corpus manifest
afterwards, outside the timing), and the server is stopped. MiB/s is the corpus size over
the operation's own ``duration_seconds`` (without start-up and the Argon2 key derivation);
the wall-clock time of the whole command is reported too. The 1-minute load average is
printed next to the figures: other work on the machine slows every row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from corpora import MIB, compare_manifests, ensure_corpus, tree_manifest  # noqa: E402
from tools import find_executable, pin_keyark  # noqa: E402

BACKENDS = ("local", "sftp", "s3", "azure", "gcs", "ftp", "ftps")
PASSWORD = "benchmark-passphrase-not-secret"  # throwaway repositories


@dataclass
class Target:
    """Where one backend's repository lives and how the command reaches it."""

    url: str
    env: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


@dataclass
class Row:
    backend: str
    backup_seconds: float = 0.0
    backup_wall: float = 0.0
    restore_seconds: float = 0.0
    restore_wall: float = 0.0
    stored_bytes: int = 0
    load: list[float] = field(default_factory=list)
    error: str = ""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def server_for(kind: str, work: Path) -> Iterator[Target]:
    """Start the server of ``kind`` (none for local) and yield a fresh repository target."""
    from tests.conformance import servers

    work.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        yield Target(str(work / "repo"))
        return
    started: servers.Server
    if kind == "sftp":
        started, ssh = servers.start_sshd(work)
        target = Target(
            f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/repo",
            flags=[
                *("--sftp-known-hosts", str(ssh.known_hosts)),
                *("--sftp-identity", str(ssh.identity)),
            ],
        )
    elif kind == "s3":
        started, endpoint = servers.start_moto(work)
        target = Target("s3://keyark-bench/repo", flags=["--s3-endpoint", endpoint])
    elif kind == "azure":
        started, connection = servers.start_azurite(work)
        target = Target(
            "azure://keyark-bench/repo", env={"AZURE_STORAGE_CONNECTION_STRING": connection}
        )
    elif kind == "gcs":
        started, endpoint = servers.start_fake_gcs(work)
        target = Target("gs://keyark-bench/repo", env={"STORAGE_EMULATOR_HOST": endpoint})
    elif kind in ("ftp", "ftps"):
        started, ftp = servers.start_ftp(work, tls=kind == "ftps")
        target = Target(
            f"{kind}://{ftp.user}@127.0.0.1:{ftp.port}/repo",
            env={"KEYARK_FTP_PASSWORD": ftp.password},
            flags=["--ftp-ca-file", str(ftp.ca_file)] if ftp.ca_file else [],
        )
    else:
        raise ValueError(kind)
    try:
        yield target
    finally:
        started.stop()


def base_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "AWS_"))}
    env.update(
        KEYARK_PASSWORD=PASSWORD,
        KEYARK_CACHE_DIR=str(state / "cache"),
        HOME=str(state / "home"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # the emulator's dummy key
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    for variable in ("AZURE_STORAGE_CONNECTION_STRING", "STORAGE_EMULATOR_HOST", "SSH_AUTH_SOCK"):
        env.pop(variable, None)
    return env


def keyark(
    argv0: list[str], env: dict[str, str], target: Target, *args: str
) -> tuple[dict[str, object], float]:
    """Run one keyark command with ``--json``; its summary and the wall-clock seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        [*argv0, *args, "--json", *target.flags],
        env={**env, **target.env, "KEYARK_REPOSITORY": target.url},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"keyark {args[0]} exited {result.returncode}: {result.stderr.strip()}")
    lines = result.stdout.strip().splitlines()
    summary: dict[str, object] = json.loads(lines[-1]) if lines else {}
    return summary, wall


def run_backend(
    kind: str,
    argv0: list[str],
    extra_env: dict[str, str],
    corpus_root: Path,
    manifest: dict[str, str],
    work: Path,
) -> Row:
    row = Row(kind)
    run_dir = work / "runs" / kind
    if run_dir.exists():
        shutil.rmtree(run_dir)
    env = {**base_env(run_dir / "state"), **extra_env}
    try:
        with server_for(kind, run_dir / "server") as target:
            keyark(argv0, env, target, "init")
            row.load.append(os.getloadavg()[0])
            summary, row.backup_wall = keyark(argv0, env, target, "backup", str(corpus_root))
            row.backup_seconds = float(summary["duration_seconds"])  # type: ignore[arg-type]
            row.stored_bytes = int(summary["bytes_stored"])  # type: ignore[call-overload]
            row.load.append(os.getloadavg()[0])
            out = run_dir / "restored"
            summary, row.restore_wall = keyark(
                argv0, env, target, "restore", "latest", "--target", str(out)
            )
            row.restore_seconds = float(summary["duration_seconds"])  # type: ignore[arg-type]
            row.load.append(os.getloadavg()[0])
            problems = compare_manifests(
                manifest, tree_manifest(out / corpus_root.relative_to("/"))
            )
            if problems:
                row.error = f"restore differs: {problems[:3]}"
    except BaseException as error:  # pytest's skip/fail are BaseExceptions
        if isinstance(error, KeyboardInterrupt):
            raise
        row.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return row


def uptime() -> str:
    """``uptime`` output: the machine's load averages right now."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def render(rows: list[Row], size_mib: float) -> str:
    head = (
        "| backend | backup s | backup MiB/s | restore s | restore MiB/s "
        "| wall backup/restore s | stored MiB | load 1m |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        if row.error:
            lines.append(f"| {row.backend} | failed: {row.error} |||||||")
            continue
        lines.append(
            f"| {row.backend} | {row.backup_seconds:.2f} | {size_mib / row.backup_seconds:.1f} "
            f"| {row.restore_seconds:.2f} | {size_mib / row.restore_seconds:.1f} "
            f"| {row.backup_wall:.1f} / {row.restore_wall:.1f} "
            f"| {row.stored_bytes / MIB:.0f} | {'-'.join(f'{v:.1f}' for v in row.load)} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="size of each corpus file")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "backends")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-pin", action="store_true", help="run the installed keyark as is")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)} (known: {', '.join(BACKENDS)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    exe = find_executable("keyark")
    if exe is None:
        log("keyark is not installed (make venv)")
        return 1
    argv0, extra_env = [exe], {}
    if not args.no_pin:
        pinned = pin_keyark(exe, work / "keyark-pinned")
        argv0, extra_env = pinned.argv, pinned.env
        log(f"running a copy of {pinned.source} taken now")
    corpus = ensure_corpus("big", work, big_size_mib=args.size_mib, log=log)
    for path in sorted(corpus.root.iterdir()):  # warm the page cache for every backend alike
        with path.open("rb") as handle:
            while handle.read(16 * MIB):
                pass
    size_mib = corpus.bytes / MIB
    log(f"corpus {corpus.root}: {corpus.files} files, {size_mib:.0f} MiB; {uptime()}")
    rows = []
    for kind in args.backends:
        log(f"{kind}: init, backup, restore ...")
        rows.append(run_backend(kind, argv0, extra_env, corpus.root, corpus.manifest, work))
        log(f"{kind}: {'failed: ' + rows[-1].error if rows[-1].error else 'done'}")
    table = render(rows, size_mib)
    print(table)
    print(f"\ncorpus: big, 2 x {args.size_mib} MiB; cpus: {os.cpu_count()}; {uptime()}")
    if args.json:
        args.json.write_text(
            json.dumps({"size_mib": size_mib, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
