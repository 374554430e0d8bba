"""One tool's measured sequence on one corpus, and the reference commands.

For a tool, in a fresh repository with fresh cache directories: ``init``, backup #1,
backup #2 (nothing changed), backup #3 (after the 1% change set), restore of the latest
snapshot (then compared with the changed tree's manifest, outside the timing),
``check --read-data``, ``snapshots``, ``ls latest``, ``find NAME`` and start-up
(``version``). The change set is reverted afterwards whatever happened.

The references, measured the same way: ``find ROOT -printf '%s %T@\\n'`` (the floor of a
backup with no change) and ``tar -x`` of the corpus from a tar on local disk (the floor
of a restore).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from changes import ChangeSet, find_name
from corpora import Corpus, compare_manifests, tree_manifest
from measure import CacheDropper, Measurement, log, log_tail, run_measured, tree_bytes
from report import OP_LABELS, REFERENCE, RunResult
from tools import PinnedKeyark, Tool, borg_major

#: Operations whose failure ends the sequence (nothing after them can run).
FATAL = ("init", "backup1")
CHANGED_FRACTION = 0.01
CHANGE_SEED = 19


def make_tool(tool_name: str, exe: str | PinnedKeyark, version: str, base: Path) -> Tool:
    """A :class:`Tool` with a fresh repository and state directory under BASE."""
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    tool = Tool(
        name=tool_name,
        exe=exe.argv if isinstance(exe, PinnedKeyark) else exe,
        repo=base / "repo",
        state=base / "state",
        version=version,
        borg_major=borg_major(version) if tool_name == "borg" else 1,
        extra_env=exe.env if isinstance(exe, PinnedKeyark) else {},
    )
    tool.setup_env()
    return tool


def run_tool(
    tool: Tool,
    corpus: Corpus,
    base: Path,
    drop: CacheDropper,
    *,
    cache: str,
    ops: tuple[str, ...],
    repeat: int = 1,
) -> RunResult:
    """Run the sequence (only the steps in OPS, plus init) and check the restore."""
    target = base / "restore"
    log_path = base / "log.txt"
    result = RunResult(corpus=corpus.name, tool=tool.name, cache=cache, measurements=[])
    changes = ChangeSet(corpus.root, corpus.manifest, CHANGED_FRACTION, CHANGE_SEED)
    name = find_name(corpus.manifest)
    last = max((int(op[-1]) for op in ops if op.startswith("backup")), default=1)
    try:
        for op in ("init", *ops):
            if op == "backup3":
                changes.apply()
            argv, cwd = _command(tool, op, corpus, target, name, last)
            if op == "restore":
                target.mkdir(exist_ok=True)
            m = run_measured(
                argv, env=tool.env, cwd=cwd, log_path=log_path, corpus=corpus.name,
                tool=tool.name, op=op, drop=drop, cache=cache,
            )  # fmt: skip
            m.repeat = repeat
            result.measurements.append(m)
            _report(m)
            if m.returncode != 0:
                result.error = f"{op} ({cache}) exited {m.returncode}; see {log_path}"
                print(log_tail(log_path), flush=True)
                if op in FATAL:
                    break
            if op.startswith("backup"):  # the size after the last backup is kept
                result.repo_bytes = tree_bytes(tool.repo)
            if op == "restore" and m.returncode == 0:
                expected = changes.changed_manifest() if "backup3" in ops else corpus.manifest
                _check_restore(result, target, corpus, expected)
    finally:
        changes.revert()
    return result


def _command(
    tool: Tool, op: str, corpus: Corpus, target: Path, name: str, last: int
) -> tuple[list[str], Path | None]:
    """The command of OP; LAST is the newest backup's number (borg's archive ``b<LAST>``)."""
    commands = {
        "init": tool.init,
        "backup1": lambda: tool.backup(corpus.root, 1),
        "backup2": lambda: tool.backup(corpus.root, 2),
        "backup3": lambda: tool.backup(corpus.root, 3),
        "restore": lambda: tool.restore(target, last),
        "check": tool.check,
        "snapshots": tool.snapshots,
        "ls": lambda: tool.ls(last),
        "find": lambda: tool.find(name, last),
        "version": tool.version_command,
    }
    return commands[op]()


def _report(m: Measurement) -> None:
    status = "ok" if m.returncode == 0 else f"FAILED (exit {m.returncode})"
    log(
        f"  {m.tool:6} {m.cache:4} {OP_LABELS[m.op]:20} {m.seconds:8.2f}s "
        f"{m.max_rss_kib / 1024:8.1f} MiB  load {m.load_average:.2f}  {status}"
    )


def _check_restore(
    result: RunResult, target: Path, corpus: Corpus, expected: dict[str, str]
) -> None:
    restored = target / corpus.root.resolve().relative_to("/")
    problems = (
        compare_manifests(expected, tree_manifest(restored))
        if restored.is_dir()
        else [f"{restored} was not restored"]
    )
    result.restore_ok = not problems
    result.restore_problems = problems
    if problems:
        log(f"  {result.tool} restore differs from the source: {'; '.join(problems)}")
    shutil.rmtree(target)


def corpus_tar(corpus: Corpus) -> Path:
    """A tar of the corpus next to it (made once, outside any timing)."""
    tar = corpus.root.with_name(corpus.root.name + ".tar")
    stamp = corpus.root.with_name(corpus.root.name + ".json")
    if not tar.exists() or (stamp.exists() and tar.stat().st_mtime < stamp.stat().st_mtime):
        log(f"writing {tar} (reference for restore) ...")
        partial = tar.with_name(tar.name + ".partial")
        subprocess.run(["tar", "-cf", str(partial), "-C", str(corpus.root), "."], check=True)
        partial.rename(tar)
    return tar


def run_reference(corpus: Corpus, base: Path, drop: CacheDropper, *, cache: str) -> RunResult:
    """``find -printf`` over the corpus and ``tar -x`` of its tar, measured as the tools."""
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    tar = corpus_tar(corpus)
    target = base / "restore"
    target.mkdir()
    log_path = base / "log.txt"
    result = RunResult(corpus=corpus.name, tool=REFERENCE, cache=cache, measurements=[])
    find = ["find", str(corpus.root), "-printf", "%s %T@\\n"]
    commands = {"find-printf": (find, None), "tar-x": (["tar", "-xf", str(tar)], target)}
    for op, (argv, cwd) in commands.items():
        m = run_measured(
            argv, env=None, cwd=cwd, log_path=log_path if op == "tar-x" else Path("/dev/null"),
            corpus=corpus.name, tool=REFERENCE, op=op, drop=drop, cache=cache,
        )  # fmt: skip
        result.measurements.append(m)
        _report(m)
    shutil.rmtree(target)
    return result
