"""How each backup tool is installed, configured and driven.

Each tool gets, per corpus, a fresh repository and fresh cache/config directories, its
passphrase from the environment, and default settings except where noted:

* keyark: ``KEYARK_REPOSITORY``/``KEYARK_PASSWORD``/``KEYARK_CACHE_DIR``; defaults
  (zstd level 3, argon2id KDF, 16 MiB packs).
* restic: ``RESTIC_REPOSITORY``/``RESTIC_PASSWORD``/``RESTIC_CACHE_DIR``; defaults
  (repository v2, compression ``auto``, i.e. zstd).
* borg 1.x: ``init --encryption=repokey-blake2``, ``create --compression zstd,3`` (keyark's
  default level); ``BORG_PASSPHRASE`` and ``BORG_{BASE,CACHE,CONFIG,SECURITY,KEYS}_DIR``.
  borg 2.x is handled on a best-effort basis (``repo-create``/``rcreate``, ``-r REPO``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("keyark", "restic", "borg")
PASSWORD = "benchmark-passphrase-not-secret"  # throwaway repositories
APT_PACKAGES = {"restic": "restic", "borg": "borgbackup"}


@dataclass
class Tool:
    """Command lines of one tool for one repository."""

    name: str
    exe: str | list[str]  # a path, or an argv prefix (keyark run from a pinned copy)
    repo: Path
    state: Path  # cache/config directories live here
    version: str = ""
    env: dict[str, str] = field(default_factory=dict)
    borg_major: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def argv0(self) -> list[str]:
        return [self.exe] if isinstance(self.exe, str) else list(self.exe)

    def setup_env(self) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "RESTIC_"))}
        base = {k: v for k, v in base.items() if not k.startswith("BORG_")}
        base["HOME"] = str(self.state / "home")
        base["XDG_CACHE_HOME"] = str(self.state / "xdg-cache")
        base["XDG_CONFIG_HOME"] = str(self.state / "xdg-config")
        if self.name == "keyark":
            base |= {
                "KEYARK_REPOSITORY": str(self.repo),
                "KEYARK_PASSWORD": PASSWORD,
                "KEYARK_CACHE_DIR": str(self.state / "cache"),
            }
        elif self.name == "restic":
            base |= {
                "RESTIC_REPOSITORY": str(self.repo),
                "RESTIC_PASSWORD": PASSWORD,
                "RESTIC_CACHE_DIR": str(self.state / "cache"),
            }
        elif self.name == "borg":
            base |= {
                "BORG_PASSPHRASE": PASSWORD,
                "BORG_BASE_DIR": str(self.state / "base"),
                "BORG_CACHE_DIR": str(self.state / "cache"),
                "BORG_CONFIG_DIR": str(self.state / "config"),
                "BORG_SECURITY_DIR": str(self.state / "security"),
                "BORG_KEYS_DIR": str(self.state / "keys"),
                "BORG_REPO": str(self.repo),
            }
        for sub in ("home", "cache"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self.env = base | self.extra_env

    # Each method returns (argv, cwd).
    def init(self) -> tuple[list[str], Path | None]:
        if self.name == "keyark":
            return [*self.argv0, "init"], None
        if self.name == "restic":
            return [*self.argv0, "init"], None
        if self.borg_major >= 2:
            verb = "repo-create" if self._borg_has("repo-create") else "rcreate"
            mode = "repokey-blake2-chacha20-poly1305"
            return [*self.argv0, "-r", str(self.repo), verb, f"--encryption={mode}"], None
        return [*self.argv0, "init", "--encryption=repokey-blake2", str(self.repo)], None

    def backup(self, source: Path, number: int) -> tuple[list[str], Path | None]:
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "backup", str(source)], None
        create = [*self.argv0, "create", "--compression", "zstd,3"]
        if self.borg_major >= 2:
            return [*create, f"b{number}", str(source)], None
        return [*create, f"{self.repo}::b{number}", str(source)], None

    def restore(self, target: Path, number: int) -> tuple[list[str], Path | None]:
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "restore", "latest", "--target", str(target)], None
        if self.borg_major >= 2:
            return [*self.argv0, "extract", f"b{number}"], target
        return [*self.argv0, "extract", f"{self.repo}::b{number}"], target

    def check(self) -> tuple[list[str], Path | None]:
        if self.name == "keyark":
            return [*self.argv0, "check", "--read-data"], None
        if self.name == "restic":
            return [*self.argv0, "check", "--read-data"], None
        return [*self.argv0, "check", "--verify-data", str(self.repo)], None

    def snapshots(self) -> tuple[list[str], Path | None]:
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "snapshots"], None
        return [*self.argv0, *self._borg_repo(), "list", *self._borg_repo_arg()], None

    def ls(self, number: int) -> tuple[list[str], Path | None]:
        """Every entry of the latest snapshot (restic and borg list recursively too)."""
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "ls", "latest"], None
        return [*self.argv0, *self._borg_repo(), "list", self._borg_archive(number)], None

    def find(self, name: str, number: int) -> tuple[list[str], Path | None]:
        """Entries called NAME; borg has no find: ``list`` of the latest archive with a
        pattern (one archive, where keyark and restic search every snapshot)."""
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "find", name], None
        archive = self._borg_archive(number)
        return [*self.argv0, *self._borg_repo(), "list", archive, f"sh:**/{name}"], None

    def version_command(self) -> tuple[list[str], Path | None]:
        """Start-up: the cheapest command each tool has."""
        if self.name in ("keyark", "restic"):
            return [*self.argv0, "version"], None
        return [*self.argv0, "--version"], None

    def _borg_repo(self) -> list[str]:
        return ["-r", str(self.repo)] if self.borg_major >= 2 else []

    def _borg_repo_arg(self) -> list[str]:
        return [] if self.borg_major >= 2 else [str(self.repo)]

    def _borg_archive(self, number: int) -> str:
        return f"b{number}" if self.borg_major >= 2 else f"{self.repo}::b{number}"

    def _borg_has(self, verb: str) -> bool:
        result = subprocess.run(
            [*self.argv0, "help", verb], capture_output=True, env=self.env, check=False
        )
        return result.returncode == 0


def keyark_executable() -> str | None:
    """The keyark next to the running interpreter, the repo venv's, or one on PATH."""
    candidates = [
        Path(sys.executable).parent / "keyark",
        Path(__file__).resolve().parents[1] / ".venv" / "bin" / "keyark",
    ]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    return shutil.which("keyark")


@dataclass(frozen=True)
class PinnedKeyark:
    """keyark run from a private copy of its source, immune to edits during the run."""

    argv: list[str]
    env: dict[str, str]
    source: str


def pin_keyark(exe: str, destination: Path) -> PinnedKeyark:
    """Copy the keyark package that EXE runs into DESTINATION and byte-compile it.

    keyark is usually installed in editable mode, and its source may change while a long
    benchmark runs; every keyark command then runs from the same snapshot of the code.
    """
    python = _script_interpreter(exe)
    found = subprocess.run(
        [python, "-c", "import keyark, os; print(os.path.dirname(keyark.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    package = Path(found.stdout.strip())
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(package, destination / "keyark", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-m", "compileall", "-q", str(destination)], check=True)
    runner = "import sys; from keyark.cli.main import run; sys.argv[0] = 'keyark'; sys.exit(run())"
    return PinnedKeyark(
        argv=[python, "-c", runner], env={"PYTHONPATH": str(destination)}, source=str(package)
    )


def _script_interpreter(exe: str) -> str:
    """The interpreter named in a console script's shebang (or this one)."""
    with open(exe, "rb") as handle:
        first = handle.readline().decode(errors="replace").strip()
    if first.startswith("#!") and "python" in first:
        return first[2:].split()[0]
    return sys.executable


def find_executable(name: str) -> str | None:
    return keyark_executable() if name == "keyark" else shutil.which(name)


def ensure_installed(tools: list[str], *, allow_install: bool) -> None:
    """Install restic/borgbackup from Debian packages when missing (needs root)."""
    missing = [t for t in tools if t != "keyark" and find_executable(t) is None]
    if not missing:
        return
    packages = [APT_PACKAGES[t] for t in missing]
    command = "apt-get update && apt-get install -y " + " ".join(packages)
    if not allow_install:
        raise SystemExit(f"missing {', '.join(missing)}: install with `{command}`")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            f"missing {', '.join(missing)} and cannot install it here (needs root and apt-get);"
            f" run as root: {command}"
        )
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", *packages], check=True, env=env)
    still = [t for t in missing if find_executable(t) is None]
    if still:
        raise SystemExit(f"apt-get finished but {', '.join(still)} is still missing")


def tool_version(name: str, exe: str) -> str:
    args = [exe, "version"] if name == "restic" else [exe, "--version"]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0] if result else ""


def borg_major(version: str) -> int:
    match = re.search(r"(\d+)\.\d+", version)
    return int(match.group(1)) if match else 1
