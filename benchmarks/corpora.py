"""Deterministic benchmark corpora and tree manifests.

Three corpora, each generated once into ``<work>/corpora/<name>/`` and reused while the
generation parameters (recorded in ``<name>.json`` next to it) are unchanged:

* ``small``: 20,000 key-like files (PEM keys and certificates, OpenSSH keys,
  ``authorized_keys``, ``.env`` files, JSON service-account credentials) of 0.5-4 KiB
  over a few hundred directories; about 3% are copies of a shared CA bundle, as in real
  fleets.
* ``stdlib``: a copy of the running interpreter's standard library
  (``sysconfig.get_paths()["stdlib"]``) as it is, ``__pycache__`` included, minus
  ``site-packages``/``dist-packages``.
* ``big``: ``text.log`` (log-like lines: compressible, not trivially repetitive) and
  ``random.bin`` (seeded PRNG bytes: incompressible), ``--big-size-mib`` each.
* ``source``: a real source tree of at least 30,000 files and 500 MB (three Python
  installations; see source_tree.py).
* ``many``: 200,000 small files in 20,000 directories (``generate_many``).
* ``million``: 1,000,000 small files (``generate_many``), for the memory model.

``many`` and ``million`` live in ``<work>/corpora/compare-<name>-<files>/``, so a
``--quick`` run (fewer files) does not replace the full-size tree, and the trees of
restore_many.py/backup_many.py (another seed, ``many-<files>``) are left alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from source_tree import copy_source_tree, fingerprint, source_dirs

CORPORA = ("small", "stdlib", "big", "source", "many", "million")
#: Files of the generated ``many``/``million`` corpora at full size.
DEFAULT_FILES = {"many": 200_000, "million": 1_000_000}
SEED = 20240601
MIB = 1 << 20

# A manifest maps a path relative to the corpus root to "f:<size>:<blake2b>" for a
# regular file or "l:<target>" for a symlink. Directories are implied.
Manifest = dict[str, str]


@dataclass(frozen=True)
class Corpus:
    name: str
    root: Path
    files: int
    bytes: int
    manifest: Manifest


def ensure_corpus(
    name: str,
    work: Path,
    *,
    big_size_mib: int,
    log: Callable[[str], None],
    files: int | None = None,
) -> Corpus:
    """Generate corpus NAME under WORK unless an identical one is already there.

    FILES sets the size of the generated ``many``/``million`` corpora (default: full).
    """
    if name in DEFAULT_FILES:
        files = files or DEFAULT_FILES[name]
        directory = f"compare-{name}-{files}"
    else:
        directory = name
    root = work / "corpora" / directory
    stamp = work / "corpora" / f"{directory}.json"
    params = _params(name, big_size_mib, files)
    if stamp.exists() and root.is_dir():
        recorded = json.loads(stamp.read_text())
        if recorded.get("params") == params:
            manifest: Manifest = recorded["manifest"]
            return _corpus(name, root, manifest)
    log(f"generating corpus {name!r} in {root} ...")
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    if name == "small":
        _generate_small(root, random.Random(SEED))
    elif name == "stdlib":
        _copy_stdlib(root, Path(str(params["source"])))
    elif name == "big":
        _generate_big(root, random.Random(SEED + 1), big_size_mib * MIB)
    elif name == "source":
        copy_source_tree(root, source_dirs())
    elif name in DEFAULT_FILES:
        generate_many(root, files or DEFAULT_FILES[name], SEED)
    else:
        raise ValueError(f"unknown corpus {name!r}")
    manifest = tree_manifest(root)
    stamp.write_text(json.dumps({"params": params, "manifest": manifest}))
    return _corpus(name, root, manifest)


def _params(name: str, big_size_mib: int, files: int | None) -> dict[str, object]:
    params: dict[str, object] = {"name": name, "seed": SEED, "version": 1}
    if name == "stdlib":
        params["source"] = sysconfig.get_paths()["stdlib"]
    if name == "big":
        params["size_mib"] = big_size_mib
    if name == "source":
        dirs = source_dirs()
        params["sources"] = {k: str(v) for k, v in dirs.items()}
        params["fingerprint"] = fingerprint(dirs)
    if name in DEFAULT_FILES:
        params["files"] = files
    return params


def _corpus(name: str, root: Path, manifest: Manifest) -> Corpus:
    sizes = [int(v.split(":")[1]) for v in manifest.values() if v.startswith("f:")]
    return Corpus(name=name, root=root, files=len(sizes), bytes=sum(sizes), manifest=manifest)


# ----------------------------------------------------------------------------- manifests
def tree_manifest(root: Path) -> Manifest:
    """Content fingerprint of every file and symlink under ROOT."""
    manifest: Manifest = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in [*filenames, *dirnames]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                manifest[rel] = f"l:{os.readlink(path)}"
            elif name in filenames and path.is_file():
                with path.open("rb") as handle:
                    digest = hashlib.file_digest(handle, "blake2b").hexdigest()
                manifest[rel] = f"f:{path.stat().st_size}:{digest}"
    return manifest


def compare_manifests(expected: Manifest, actual: Manifest) -> list[str]:
    """Human-readable differences (empty when the trees match)."""
    problems: list[str] = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    for label, keys in (("missing", missing), ("extra", extra), ("different", changed)):
        if keys:
            problems.append(f"{len(keys)} {label}, e.g. {', '.join(keys[:3])}")
    return problems


# ----------------------------------------------------------------------------- small
_ENV_KEYS = (
    "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "API_TOKEN", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "STRIPE_SECRET", "SENTRY_DSN", "JWT_SIGNING_KEY", "SMTP_PASSWORD",
    "GITHUB_TOKEN", "OAUTH_CLIENT_SECRET", "ENCRYPTION_KEY", "WEBHOOK_SECRET", "LOG_LEVEL",
)  # fmt: skip
_SERVICES = (
    "api", "web", "worker", "billing", "auth", "search", "mail", "gateway", "ingest",
    "metrics", "vault", "ledger", "cdn", "queue", "db",
)  # fmt: skip
_REGIONS = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1", "eu-central-1")


def _b64(rng: random.Random, nbytes: int) -> str:
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def _pem(rng: random.Random, label: str, size: int) -> str:
    body = _b64(rng, max(48, (size - 2 * len(label) - 40) * 3 // 4 * 63 // 64))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _authorized_keys(rng: random.Random, size: int) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        kind = rng.choice(("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"))
        nbytes = {"ssh-ed25519": 51, "ssh-rsa": 279, "ecdsa-sha2-nistp256": 104}[kind]
        user = f"{rng.choice(('deploy', 'alice', 'bob', 'ci', 'ops', 'root'))}"
        line = f"{kind} {_b64(rng, nbytes)} {user}@{rng.choice(_SERVICES)}-{rng.randrange(99)}"
        out.append(line)
        total += len(line) + 1
    return "\n".join(out) + "\n"


def _dotenv(rng: random.Random, size: int, service: str) -> str:
    out = [f"# {service} environment, generated by provisioning", f"SERVICE_NAME={service}"]
    total = sum(len(x) + 1 for x in out)
    while total < size:
        key = rng.choice(_ENV_KEYS)
        if key == "DATABASE_URL":
            value = (
                f"postgres://{service}:{rng.randbytes(12).hex()}@db-{rng.randrange(9)}"
                f".internal:5432/{service}"
            )
        elif key == "LOG_LEVEL":
            value = rng.choice(("info", "debug", "warning"))
        else:
            value = _b64(rng, rng.choice((16, 24, 32, 48))).rstrip("=")
        line = f"{key}_{rng.randrange(4)}={value}" if total > 200 else f"{key}={value}"
        out.append(line)
        total += len(line) + 1
    return "\n".join(out) + "\n"


def _service_account(rng: random.Random, size: int, service: str) -> str:
    project = f"{service}-{rng.choice(_REGIONS)}-{rng.randrange(1000):03d}"
    key = _pem(rng, "PRIVATE KEY", max(256, size - 420))
    doc = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": rng.randbytes(20).hex(),
        "private_key": key,
        "client_email": f"{service}@{project}.iam.example.com",
        "client_id": str(rng.randrange(10**20, 10**21)),
        "auth_uri": "https://accounts.example.com/o/oauth2/auth",
        "token_uri": "https://oauth2.example.com/token",
    }
    return json.dumps(doc, indent=2) + "\n"


def _generate_small(root: Path, rng: random.Random, nfiles: int = 20_000) -> None:
    hosts = [f"{rng.choice(_SERVICES)}-{rng.choice(_REGIONS)}-{i:03d}" for i in range(100)]
    subdirs = ("ssh", "tls", "env", "credentials")
    dirs = [root / "hosts" / h / s for h in hosts for s in subdirs]  # 400 directories
    for d in dirs:
        d.mkdir(parents=True)
    ca_bundle = _pem(rng, "CERTIFICATE", 1800) + _pem(rng, "CERTIFICATE", 1500)
    counters: dict[Path, int] = {}
    for _ in range(nfiles):
        directory = rng.choice(dirs)
        n = counters[directory] = counters.get(directory, 0) + 1
        size = rng.randint(512, 4096)
        service = directory.parent.name.split("-")[0]
        kind = directory.name
        if rng.random() < 0.03:
            name, text = f"ca-bundle-{n}.pem", ca_bundle
        elif kind == "ssh":
            if rng.random() < 0.5:
                name, text = f"id_{n}", _pem(rng, "OPENSSH PRIVATE KEY", size)
            else:
                name, text = f"authorized_keys.{n}", _authorized_keys(rng, size)
        elif kind == "tls":
            label = rng.choice(("CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY"))
            name, text = (
                f"{service}-{n}.{'crt' if label == 'CERTIFICATE' else 'key'}",
                _pem(rng, label, size),
            )
        elif kind == "env":
            name, text = f".env.{service}.{n}", _dotenv(rng, size, service)
        else:
            name, text = f"{service}-sa-{n}.json", _service_account(rng, size, service)
        (directory / name).write_text(text)


# ----------------------------------------------------------------------------- stdlib
def _copy_stdlib(root: Path, source: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == source:
            return {n for n in names if n in ("site-packages", "dist-packages")}
        return set()

    shutil.copytree(source, root, symlinks=True, ignore=ignore)


# ----------------------------------------------------------------------------- big
_LEVELS = ("INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR")
_PATHS = ("/api/v1/users", "/api/v1/orders", "/health", "/login", "/api/v2/search", "/static")
_MESSAGES = (
    "request method={method} path={path} status={status} duration_ms={ms} req_id={rid}",
    "user {user} logged in from {ip}",
    "cache miss key=session:{rid} ttl=3600",
    "db query table={table} rows={rows} duration_ms={ms}",
    "retrying upstream {service} attempt={attempt} after {ms}ms",
    "job {rid} finished state={state} items={rows}",
)
_TABLES = ("users", "orders", "payments", "sessions", "audit_log")


def _log_lines(rng: random.Random) -> Iterator[str]:
    ts = 1_700_000_000_000
    while True:
        ts += rng.randrange(1, 40)
        secs, ms = divmod(ts, 1000)
        template = rng.choice(_MESSAGES)
        message = template.format(
            method=rng.choice(("GET", "GET", "POST", "PUT", "DELETE")),
            path=rng.choice(_PATHS),
            status=rng.choice((200, 200, 200, 201, 204, 304, 404, 500)),
            ms=rng.randrange(1, 900),
            rid=f"{rng.getrandbits(48):012x}",
            user=f"user{rng.randrange(5000)}",
            ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            table=rng.choice(_TABLES),
            rows=rng.randrange(0, 5000),
            service=rng.choice(_SERVICES),
            attempt=rng.randrange(1, 5),
            state=rng.choice(("ok", "ok", "ok", "failed")),
        )
        yield (
            f"{secs}.{ms:03d} {rng.choice(_LEVELS):5} {rng.choice(_SERVICES)}"
            f"[{rng.randrange(1, 32768)}]: {message}\n"
        )


def _generate_big(root: Path, rng: random.Random, size: int) -> None:
    root.mkdir(parents=True)
    with (root / "text.log").open("w") as out:
        written = 0
        lines = _log_lines(rng)
        while written < size:
            block = "".join(next(lines) for _ in range(10_000))
            block = block[: size - written]
            out.write(block)
            written += len(block)
    with (root / "random.bin").open("wb") as out:
        remaining = size
        while remaining:
            n = min(remaining, 4 * MIB)
            out.write(rng.randbytes(n))
            remaining -= n


# ----------------------------------------------------------------------------- many
def generate_many(root: Path, files: int, seed: int) -> None:
    """FILES small files (64 B - 8 KiB, ~2 KiB on average) in FILES/10 directories.

    Leaf directories ``gNNNN/dNNNNNN`` (100 per group) hold 10 files each; contents are
    unique (no deduplication), half text-like (compressible), half random bytes.
    Deterministic for a given ``(files, seed)``; ROOT must not exist yet.
    """
    rng = random.Random(seed)
    words = [_b64(rng, rng.randrange(3, 9)).rstrip("=") for _ in range(512)]
    dirs = max(1, files // 10)
    root.mkdir(parents=True)
    for d in range(dirs):
        directory = root / f"g{d // 100:04d}" / f"d{d:06d}"
        directory.mkdir(parents=True)
        count = files - 10 * (dirs - 1) if d == dirs - 1 else 10
        for n in range(count):
            size = min(8192, max(64, int(rng.expovariate(1 / 2048))))
            if n % 2:
                data = rng.randbytes(size)
            else:
                text = " ".join(rng.choices(words, k=size // 5 + 1))
                data = f"{d}.{n} {text}".encode()[:size]
            (directory / f"f{n:02d}.{'bin' if n % 2 else 'txt'}").write_bytes(data)
