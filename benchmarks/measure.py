"""Running one measured command: wall time, peak RSS, CPU, load, page-cache state."""

from __future__ import annotations

import datetime
import os
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: GNU time: it forks the tool from its own small process (see run_measured).
GNU_TIME = "/usr/bin/time"
TIME_FORMAT = "%M %U %S %x"


@dataclass
class Measurement:
    """One command's figures (``cache`` is "cold" or "warm")."""

    corpus: str
    tool: str
    op: str
    seconds: float
    max_rss_kib: int
    user_seconds: float
    system_seconds: float
    returncode: int
    log: str
    cache_dropped: bool
    load_average: float  # 1-minute load average just before the operation
    repeat: int = 1
    cache: str = "cold"
    #: Where max_rss_kib comes from: "time" (GNU time's wait4 of the tool) or "wait4"
    #: (this process's wait4: includes this process's own peak RSS, see run_measured).
    rss_source: str = "time"


def log(message: str) -> None:
    """Print MESSAGE with a time stamp, flushed (long runs are watched live)."""
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


class CacheDropper:
    """Drop the page cache before each measured operation when the kernel lets us."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.note = "disabled by --no-drop-caches" if not enabled else ""

    def __call__(self) -> bool:
        """Sync and drop the page cache; False when disabled or not permitted."""
        if not self.enabled:
            return False
        os.sync()
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError as error:
            self.enabled = False
            self.note = f"not possible ({error.strerror}); caches were warm"
            log(f"cannot drop the page cache: {error.strerror}; continuing with a warm cache")
            return False
        self.note = "sync; echo 3 > /proc/sys/vm/drop_caches before every cold operation"
        return True


NO_DROP = CacheDropper(enabled=False)


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str] | None,
    cwd: Path | None,
    log_path: Path,
    corpus: str,
    tool: str,
    op: str,
    drop: CacheDropper,
    cache: str = "cold",
) -> Measurement:
    """Run ARGV; wall time via perf_counter, peak RSS and CPU from the tool's rusage.

    The tool runs under GNU time (``/usr/bin/time -f '%M %U %S %x'``), which forks it
    from its own ~1 MiB process and reports the rusage ``wait4`` gives for it. Peak RSS
    cannot come from this process's ``wait4``: Linux carries the forking process's peak
    resident set into the child's ``ru_maxrss`` when the child calls exec (vfork and
    posix_spawn included), so every tool would show this script's size (tens to hundreds
    of MiB with a large corpus's manifest loaded) as a floor. Without GNU time, wait4's
    figure is recorded with ``rss_source="wait4"``. ``ru_maxrss`` is the largest resident
    set of the tool or any descendant it waited for (not their sum); all three tools are
    single-process. The page cache is dropped first only for a "cold" measurement.
    """
    dropped = drop() if cache == "cold" else False
    load = os.getloadavg()[0]
    timed = os.access(GNU_TIME, os.X_OK)
    with tempfile.NamedTemporaryFile("r", prefix="rusage-", suffix=".txt") as report:
        wrapper = [GNU_TIME, "-f", TIME_FORMAT, "-o", report.name, "--"] if timed else []
        with log_path.open("ab") as out:
            out.write(f"$ {shlex.join(argv)}  (cwd={cwd or os.getcwd()}, {cache})\n".encode())
            out.flush()
            start = time.perf_counter()
            process = subprocess.Popen(
                [*wrapper, *argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=out,
            )  # fmt: skip
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:  # interrupted (SIGINT, SIGTERM): take the tool down too
                process.kill()
                process.wait()
                raise
            seconds = time.perf_counter() - start
            returncode = os.waitstatus_to_exitcode(status)
            out.write(f"# exit {returncode} in {seconds:.2f}s\n\n".encode())
        figures = _time_report(report.read()) if timed else None
    if figures is None:
        rss, user, system, source = usage.ru_maxrss, usage.ru_utime, usage.ru_stime, "wait4"
    else:
        rss, user, system, returncode = figures
        source = "time"
    return Measurement(
        corpus=corpus,
        tool=tool,
        op=op,
        seconds=seconds,
        max_rss_kib=rss,
        user_seconds=user,
        system_seconds=system,
        returncode=returncode,
        log=str(log_path),
        cache_dropped=dropped,
        load_average=load,
        cache=cache,
        rss_source=source,
    )


def _time_report(text: str) -> tuple[int, float, float, int] | None:
    """(max RSS KiB, user s, system s, exit status) from GNU time's report.

    For a tool killed by signal N, GNU time writes "Command terminated by signal N" and
    an exit status of 0: the status is -N then, as subprocess reports it.
    """
    lines = text.strip().splitlines()
    fields = lines[-1].split() if lines else []
    if len(fields) != 4:
        return None
    try:
        status = int(fields[3])
        for line in lines[:-1]:
            if line.startswith("Command terminated by signal "):
                status = -int(line.rsplit(" ", 1)[-1])
        return int(fields[0]), float(fields[1]), float(fields[2]), status
    except ValueError:
        return None


def tree_bytes(root: Path) -> int:
    """Bytes of every regular file under ROOT (a repository's size)."""
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def log_tail(path: Path, lines: int = 15) -> str:
    """The last LINES lines of a log, indented."""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])
