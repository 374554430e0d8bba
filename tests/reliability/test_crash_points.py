"""Crash points on observed storage events: backup, agent backup, copy, key rotate.

Issue 9 section 5: "kill points on observed storage events for backup, agent backup,
copy and rotate (every write and delete, before and after) with check, restore and
resume verified after each".

Each operation first runs to completion under :mod:`tests.reliability.crash_launcher`,
which counts its mutating storage operations (``put``, ``delete``, across every
backend the process opens: the source of ``copy`` included): N. Then, for each crash
point K (all of 1..N when N <= :data:`MAX_POINTS`, else the first and the last of
every run of one kind of operation: see :func:`crash_points`) and each of *before* /
*after*, on a fresh copy of the pristine repositories and cache, the operation runs
again and dies with ``os._exit(77)`` just before operation K starts or just after it
returned (no unwinding: its lock and temporary files stay). Then:

1. the crash is confirmed where it was meant to be (exit 77, operation K recorded as
   the crash point, K operations started for *before*, the Kth object absent/present
   in storage right after the death as *before*/*after* implies);
2. ``keyark unlock`` (the dead process's lock) and ``keyark check --read-data`` exit
   0 on every repository the operation writes to, and every snapshot that existed
   before restores byte-exactly;
3. resume: the same operation runs again and exits 0; ``check --read-data`` passes
   again, every snapshot, old and new, restores byte-exactly, and no lock is left.
   A repository the counted run never wrote to (the source of ``copy``) must be
   byte-identical to its pristine copy at the end.

Every command runs through the real CLI (``keyark.cli.main.main``) in a process of
its own; to save the interpreter start-up of each, one launcher per worker imports
keyark once and forks a process per command (``crash_launcher --steps``).

Positive controls: the crash point's object is checked in storage (point 1);
:func:`test_crash_point_fires_at_the_counted_operation` runs the launcher's single
mode at the first, the last and one past the last operation; and
:func:`test_verification_detects_a_lost_pack` shows the verification fails on a
repository whose indexed pack was deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PASSWORD, keyark_binary
from tests.reliability.crash_launcher import AT_ENV, COUNT_FILE_ENV, CRASH_EXIT, WHEN_ENV

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = [sys.executable, "-m", "tests.reliability.crash_launcher"]
SOURCE_PASSWORD = "the source repository's passphrase"
#: Operations with at most this many mutating operations are crashed at every one;
#: longer ones at the boundaries between kinds of operation (see :func:`crash_points`).
MAX_POINTS = 12
#: Trials run in parallel (the machine has 2 cores; each trial is sequential).
WORKERS = 2
WHENS = ("before", "after")


# --- sources and digests ------------------------------------------------------------


def _write_tree(root: Path, seed: int, sizes: list[int], shared: Path | None = None) -> Path:
    """Files of seeded random bytes (and a copy of ``shared``, for dedup across trees)."""
    root.mkdir(parents=True)
    rng = random.Random(seed)
    for i, size in enumerate(sizes):
        (root / f"key{i}.bin").write_bytes(rng.randbytes(size))
    (root / "sub").mkdir()
    (root / "sub" / "small.pem").write_bytes(rng.randbytes(1_000))
    if shared is not None:
        shutil.copyfile(shared, root / "sub" / "shared.bin")
    return root


def _digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root``."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def crash_points(kinds: list[str], limit: int = MAX_POINTS) -> list[int]:
    """Which of the operations (1-based) to crash at, given each one's kind.

    All of them if there are at most ``limit``; otherwise the first and the last of
    every run of operations of one kind (``put:data`` x5 -> the 1st and the 5th), so
    every change of what is being written or deleted is covered from both sides.
    """
    n = len(kinds)
    if n <= limit:
        return list(range(1, n + 1))
    chosen = {1, n}
    for i in range(1, n):
        if kinds[i] != kinds[i - 1]:
            chosen |= {i, i + 1}  # the last of one run, the first of the next
    return sorted(chosen)


# --- scenarios ----------------------------------------------------------------------


@dataclass(frozen=True)
class RepoSpec:
    """A repository of a scenario: directory name below the workspace, passphrase."""

    dirname: str
    password: str


@dataclass
class Scenario:
    """One operation to crash, on pristine repositories below ``pristine``."""

    name: str
    pristine: Path
    #: The operation's keyark arguments; ``{ws}`` is replaced by the trial's workspace.
    args: list[str]
    #: The first is the repository the operation writes (KEYARK_REPOSITORY).
    repos: list[RepoSpec]
    #: Tags of the snapshots each repository holds before the operation.
    before: dict[str, list[str]]
    #: Tags of the target's snapshots after the operation (old and new).
    after: list[str]
    #: Tag -> the source tree that snapshot holds.
    sources: dict[str, Path]
    #: Environment changes for the operation (``None`` unsets); ``{ws}`` as in args.
    op_env: dict[str, str | None] = field(default_factory=dict)

    #: Repositories the operation never writes to (the source of ``copy``): instead of
    #: unlock, check and restore, each is compared byte for byte with its pristine copy.
    untouched: list[str] = field(default_factory=list)

    @property
    def target(self) -> RepoSpec:
        return self.repos[0]

    @property
    def written(self) -> list[RepoSpec]:
        return [repo for repo in self.repos if repo.dirname not in self.untouched]


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env["KEYARK_TEST_FAST_KDF"] = "1"
    return env


def _repo_env(ws: Path, repo: RepoSpec) -> dict[str, str | None]:
    return {
        "KEYARK_REPOSITORY": str(ws / repo.dirname),
        "KEYARK_PASSWORD": repo.password,
        "KEYARK_CACHE_DIR": str(ws / "cache"),
        "KEYARK_STATE_DIR": str(ws / "state"),  # the audit log's local copy: per workspace
    }


def _merged(*changes: dict[str, str | None]) -> dict[str, str]:
    env = _base_env()
    for change in changes:
        for key, value in change.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    return env


def _keyark(ws: Path, repo: RepoSpec, *args: str, **extra: str | None) -> str:
    """Set-up step through the installed command; its stdout."""
    result = subprocess.run(
        [keyark_binary(), *args],
        env=_merged(_repo_env(ws, repo), extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"keyark {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def _format(value: str, ws: Path) -> str:
    return value.replace("{ws}", str(ws))


def _op_args(scenario: Scenario, ws: Path) -> list[str]:
    return [_format(arg, ws) for arg in scenario.args]


def _op_env(scenario: Scenario, ws: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = dict(_repo_env(ws, scenario.target))
    for key, value in scenario.op_env.items():
        env[key] = None if value is None else _format(value, ws)
    return env


def _sources(tmp: Path) -> dict[str, Path]:
    src = tmp / "src"
    base = _write_tree(src / "base", 1, [300_000, 300_000])
    return {
        "base": base,
        "agentbase": _write_tree(src / "agentbase", 2, [400_000]),
        "new": _write_tree(src / "new", 3, [700_000, 700_000, 600_000], base / "key0.bin"),
        "one": _write_tree(src / "one", 4, [600_000, 500_000]),
        "two": _write_tree(src / "two", 5, [600_000, 500_000], base / "key1.bin"),
    }


def make_scenario(name: str, tmp: Path) -> Scenario:
    """Build the pristine repositories (and cache) of operation ``name`` below ``tmp``."""
    sources = _sources(tmp)
    pristine = tmp / "pristine"
    pristine.mkdir()
    target = RepoSpec("repo", PASSWORD)
    _keyark(pristine, target, "init", "--pack-size", "1")
    if name == "backup":
        _keyark(pristine, target, "backup", str(sources["base"]), "--tag", "base")
        args = ["backup", str(sources["new"]), "--tag", "new"]
        return Scenario(
            name, pristine, args, [target], {"repo": ["base"]}, ["base", "new"], sources
        )
    if name == "agent-backup":
        credential = pristine / "web1.cred"
        _keyark(pristine, target, "agent", "add", "web1", "--out", str(credential))
        agent_env: dict[str, str | None] = {
            "KEYARK_AGENT_CREDENTIAL": str(credential),
            "KEYARK_PASSWORD": None,
        }
        _keyark(pristine, target, "backup", str(sources["base"]), "--tag", "base")
        _keyark(
            pristine, target, "backup", str(sources["agentbase"]), "--tag", "agentbase",
            **agent_env,
        )  # fmt: skip
        args = ["backup", str(sources["new"]), "--tag", "new"]
        before = {"repo": ["base", "agentbase"]}
        after = ["base", "agentbase", "new"]
        return Scenario(name, pristine, args, [target], before, after, sources, agent_env)
    if name == "copy":
        source = RepoSpec("from", SOURCE_PASSWORD)
        _keyark(pristine, source, "init", "--pack-size", "1")
        _keyark(pristine, source, "backup", str(sources["one"]), "--tag", "one")
        _keyark(pristine, source, "backup", str(sources["two"]), "--tag", "two")
        _keyark(pristine, target, "backup", str(sources["base"]), "--tag", "base")
        args = ["copy", "--from-repo", "{ws}/from", "--all"]
        before = {"repo": ["base"], "from": ["one", "two"]}
        env: dict[str, str | None] = {"KEYARK_FROM_PASSWORD": SOURCE_PASSWORD}
        after = ["base", "one", "two"]
        return Scenario(name, pristine, args, [target, source], before, after, sources, env)
    if name == "rotate":
        _keyark(pristine, target, "backup", str(sources["one"]), "--tag", "one")
        _keyark(pristine, target, "backup", str(sources["two"]), "--tag", "two")
        args = ["key", "rotate", "--reencrypt"]
        before = {"repo": ["one", "two"]}
        return Scenario(name, pristine, args, [target], before, ["one", "two"], sources)
    raise ValueError(name)


# --- running ------------------------------------------------------------------------

#: One keyark command: its arguments and environment changes (``None`` unsets).
Step = tuple[list[str], dict[str, str | None]]


def run_steps(ws: Path, steps: list[Step]) -> list[dict[str, Any]]:
    """Run keyark commands one after another, each in a process of its own; results.

    The launcher imports keyark once and forks a process per step (see
    :mod:`tests.reliability.crash_launcher`).
    """
    spec = ws / f"steps-{threading.get_ident()}-{time.monotonic_ns()}.json"
    out = spec.with_suffix(".out")
    spec.write_text(json.dumps([{"args": args, "env": env} for args, env in steps]))
    done = subprocess.run(
        [*LAUNCHER, "--steps", str(spec), str(out)],
        env=_base_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(out.read_text())
    assert len(results) == len(steps)
    return results


def operation_step(scenario: Scenario, ws: Path, at: int | None, when: str = "before") -> Step:
    """The scenario's operation, counted (and crashed at ``at``, if given)."""
    env = _op_env(scenario, ws)
    env[COUNT_FILE_ENV] = str(ws / f"count-{at}-{when}.json")
    if at is not None:
        env.update({AT_ENV: str(at), WHEN_ENV: when})
    return _op_args(scenario, ws), env


def _restore_steps(ws: Path, repo: RepoSpec, tags: list[str], label: str) -> list[Step]:
    env = _repo_env(ws, repo)
    return [
        (["restore", "latest", "--tag", tag, "--target", str(ws / f"{label}-{tag}")], env)
        for tag in tags
    ]


def _compare_restores(
    scenario: Scenario, ws: Path, tags: list[str], label: str, results: list[dict[str, Any]]
) -> list[str]:
    problems = []
    for tag, result in zip(tags, results, strict=True):
        if result["rc"] != 0:
            output = (result["stdout"] + result["stderr"])[-1000:]
            problems.append(f"{label}: restore --tag {tag} exited {result['rc']}: {output}")
            continue
        source = scenario.sources[tag]
        restored = ws / f"{label}-{tag}" / str(source).lstrip("/")
        if not restored.is_dir() or _digest(restored) != _digest(source):
            problems.append(f"{label}: snapshot {tag} did not restore byte-exactly")
    return problems


def _failed(what: str, result: dict[str, Any]) -> list[str]:
    if result["rc"] == 0:
        return []
    output = (result["stdout"][-1000:] + result["stderr"][-1000:]).strip()
    return [f"{what} exited {result['rc']}: {output}"]


def after_crash_steps(scenario: Scenario, ws: Path) -> list[Step]:
    """unlock and check --read-data of every repository, restore of what existed before."""
    steps: list[Step] = [(["unlock"], _repo_env(ws, repo)) for repo in scenario.written]
    steps += [(["check", "--read-data"], _repo_env(ws, repo)) for repo in scenario.written]
    for repo in scenario.written:
        steps += _restore_steps(ws, repo, scenario.before[repo.dirname], f"crashed-{repo.dirname}")
    return steps


def judge_after_crash(scenario: Scenario, ws: Path, results: list[dict[str, Any]]) -> list[str]:
    """Problems in the results of :func:`after_crash_steps`."""
    problems: list[str] = []
    count = len(scenario.written)
    for repo, result in zip(scenario.written, results[:count], strict=True):
        problems += _failed(f"unlock {repo.dirname}", result)
    for repo, result in zip(scenario.written, results[count : 2 * count], strict=True):
        problems += _failed(f"check --read-data {repo.dirname}", result)
    rest = results[2 * count :]
    for repo in scenario.written:
        tags = scenario.before[repo.dirname]
        mine, rest = rest[: len(tags)], rest[len(tags) :]
        problems += _compare_restores(scenario, ws, tags, f"crashed-{repo.dirname}", mine)
    return problems


def resume_steps(scenario: Scenario, ws: Path) -> list[Step]:
    """The operation again (to completion), then check --read-data and restore of all."""
    resume_env = _op_env(scenario, ws)
    resume_env[COUNT_FILE_ENV] = str(ws / "count-resume.json")
    steps: list[Step] = [
        (_op_args(scenario, ws), resume_env),
        (["check", "--read-data"], _repo_env(ws, scenario.target)),
    ]
    return steps + _restore_steps(ws, scenario.target, scenario.after, "resumed")


def judge_resume(scenario: Scenario, ws: Path, results: list[dict[str, Any]]) -> list[str]:
    """Problems in the results of :func:`resume_steps`."""
    resumed, checked, *restored = results
    problems = _failed("resume", resumed)
    for repo in scenario.written:
        left = sorted(p.name for p in (ws / repo.dirname / "locks").glob("*"))
        if left:
            problems.append(f"locks left in {repo.dirname} after resume and checks: {left}")
    for dirname in scenario.untouched:
        if _digest(ws / dirname) != _digest(scenario.pristine / dirname):
            problems.append(f"{dirname}, never written to when counted, changed")
    problems += _failed("check --read-data after resume", checked)
    return problems + _compare_restores(scenario, ws, scenario.after, "resumed", restored)


def verify_after_crash(scenario: Scenario, ws: Path) -> list[str]:
    return judge_after_crash(scenario, ws, run_steps(ws, after_crash_steps(scenario, ws)))


def _object_path(operation: list[str]) -> tuple[str, Path]:
    """('put'|'delete'|..., path) of a recorded operation ``[VERB, LOCATION, NAME]``."""
    verb, location, name = operation
    return verb, Path(location) / name


def _describe(operation: list[str], ws: Path) -> str:
    verb, location, name = operation
    where = Path(location).relative_to(ws) if Path(location).is_relative_to(ws) else location
    return f"{verb} {where}:{name}"


def crash_landed(result: dict[str, Any], at: int, when: str, pristine: Path, ws: Path) -> list[str]:
    """Positive control: the process died at operation ``at``, as storage showed at once."""
    recorded = result["record"] or {}
    if result["rc"] != CRASH_EXIT:
        return [f"exited {result['rc']}, not {CRASH_EXIT}: {result['stderr'][-800:]}"]
    if recorded.get("crashed_at") != at:
        return [f"no crash at operation {at}: {recorded}"[:500]]
    started = int(recorded["count"])
    if started < at or (when == "before" and started != at):
        return [f"a crash {when} operation {at} with {started} operations started"]
    operations: list[list[str]] = recorded["operations"]
    verb, path = _object_path(operations[at - 1])
    what = _describe(operations[at - 1], ws)
    earlier = {_object_path(op)[1] for op in operations[: at - 1]}
    existed = (pristine / path.relative_to(ws)).exists() or path in earlier
    exists = result["crash_object_exists"]
    if verb == "put" and when == "after" and not exists:
        return [f"{what}: not stored although the crash came after it"]
    if verb == "put" and when == "before" and not existed and exists:
        return [f"{what}: stored although the crash came before it"]
    if verb.startswith("delete") and exists != (when == "before"):
        return [f"{what}: wrong state for a crash {when} the delete"]
    return []


def _workspace(scenario: Scenario, ws: Path) -> Path:
    ws.mkdir()
    for repo in scenario.repos:
        shutil.copytree(scenario.pristine / repo.dirname, ws / repo.dirname, symlinks=True)
    shutil.copytree(scenario.pristine / "cache", ws / "cache", symlinks=True)
    return ws


@dataclass
class Outcome:
    at: int
    when: str
    operation: str
    problems: list[str]
    #: Data packs the resume run stored (None if it was not reached).
    resume_packs: int | None = None


@dataclass
class Trial:
    """One crash point: its workspace and every step (crash, verify, resume, verify)."""

    at: int
    when: str
    ws: Path
    steps: list[Step]
    #: How many of ``steps`` (after the crash run) verify the crashed state.
    after_crash: int


def prepare_trial(scenario: Scenario, tmp: Path, at: int, when: str) -> Trial:
    """A pristine copy to crash at ``at``/``when``; then verify, resume, verify again."""
    ws = _workspace(scenario, tmp / f"{scenario.name}-{when}-{at:03}")
    after_crash = after_crash_steps(scenario, ws)
    steps = [operation_step(scenario, ws, at, when), *after_crash, *resume_steps(scenario, ws)]
    return Trial(at, when, ws, steps, len(after_crash))


def judge_trial(scenario: Scenario, trial: Trial, results: list[dict[str, Any]]) -> Outcome:
    crashed, *rest = results
    operations = (crashed["record"] or {}).get("operations") or [["?", str(trial.ws), "?"]]
    operation = _describe(operations[min(trial.at, len(operations)) - 1], trial.ws)
    problems = crash_landed(crashed, trial.at, trial.when, scenario.pristine, trial.ws)
    if not problems:  # verification of a run that did not crash where meant proves nothing
        problems += judge_after_crash(scenario, trial.ws, rest[: trial.after_crash])
        problems += judge_resume(scenario, trial.ws, rest[trial.after_crash :])
    resumed = rest[trial.after_crash]["record"] if len(rest) > trial.after_crash else None
    packs = None if resumed is None else _data_puts(resumed["operations"])
    if not problems:
        shutil.rmtree(trial.ws, ignore_errors=True)
    return Outcome(trial.at, trial.when, operation, problems, packs)


def _data_puts(operations: list[list[str]]) -> int:
    return sum(1 for verb, _location, name in operations if verb == "put" and name[:5] == "data/")


def run_trials(scenario: Scenario, tmp: Path, points: list[tuple[int, str]]) -> list[Outcome]:
    """Every crash point; :data:`WORKERS` launchers, each running its share in sequence."""
    trials = [prepare_trial(scenario, tmp, at, when) for at, when in points]
    shares = [trials[worker::WORKERS] for worker in range(WORKERS)]

    def run_share(share: list[Trial]) -> list[Outcome]:
        if not share:
            return []
        results = run_steps(share[0].ws.parent, [step for t in share for step in t.steps])
        outcomes = []
        for trial in share:
            mine, results = results[: len(trial.steps)], results[len(trial.steps) :]
            outcomes.append(judge_trial(scenario, trial, mine))
        return outcomes

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = [outcome for share in pool.map(run_share, shares) for outcome in share]
    return sorted(done, key=lambda outcome: (outcome.at, WHENS.index(outcome.when)))


def count_operations(scenario: Scenario, tmp: Path) -> list[list[str]]:
    """The mutating operations of an uninterrupted run, in order."""
    ws = _workspace(scenario, tmp / f"{scenario.name}-count")
    [result] = run_steps(ws, [operation_step(scenario, ws, None)])
    assert result["rc"] == 0, result["stderr"]
    assert result["record"]["crashed_at"] is None
    operations: list[list[str]] = result["record"]["operations"]
    assert len(operations) == result["record"]["count"]
    return operations


def _kind(operation: list[str]) -> str:
    """``put:data``, ``delete:locks``: the verb and the object kind of an operation."""
    verb, location, name = operation
    where = "from:" if Path(location).name == "from" else ""
    return f"{verb}:{where}{name.split('/')[0]}"


# --- tests --------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["backup", "agent-backup", "copy", "rotate"])
def test_crash_points(operation: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = make_scenario(operation, tmp_path)
    started = time.monotonic()
    operations = count_operations(scenario, tmp_path)
    total = len(operations)
    locations = {Path(location).name for _verb, location, _name in operations}
    assert scenario.target.dirname in locations
    scenario.untouched = [r.dirname for r in scenario.repos if r.dirname not in locations]
    kinds = [_kind(op) for op in operations]
    points = [(at, when) for at in crash_points(kinds) for when in WHENS]
    outcomes = run_trials(scenario, tmp_path, points)
    failed = [o for o in outcomes if o.problems]
    resumed = [o.resume_packs for o in outcomes if o.resume_packs is not None]
    with capsys.disabled():
        print(
            f"\n{operation}: {total} mutating operations "
            f"({' '.join(kinds)}); crashed before and after {len(points) // 2} of them, "
            f"{len(failed)} failed, {time.monotonic() - started:.1f}s; resumes stored "
            f"{min(resumed, default=0)}-{max(resumed, default=0)} data packs "
            f"(an uninterrupted run {_data_puts(operations)}); "
            f"compared byte for byte (never written): {scenario.untouched or 'none'}"
        )
    assert total >= 4, "the operation wrote too little to crash in the middle of"
    assert not failed, "\n".join(
        f"{o.when} operation {o.at} ({o.operation}): " + "; ".join(o.problems) for o in failed
    )


def test_crash_points_cover_every_change_of_kind() -> None:
    assert crash_points(["put:locks", "put:data", "delete:locks"]) == [1, 2, 3]
    kinds = ["put:locks"] + ["put:data"] * 10 + ["put:index"] * 4 + ["delete:locks"]
    assert crash_points(kinds) == [1, 2, 11, 12, 15, 16]
    assert crash_points(["put:data"] * 20) == [1, 20]


def test_verification_detects_a_lost_pack(tmp_path: Path) -> None:
    """Positive control: the verification fails once an indexed pack is gone."""
    scenario = make_scenario("backup", tmp_path)
    ws = _workspace(scenario, tmp_path / "broken")
    assert verify_after_crash(scenario, ws) == []  # the pristine copy passes
    # The next restore must read the repository, not find its target complete already.
    shutil.rmtree(ws / "crashed-repo-base")
    packs = sorted((ws / "repo" / "data").glob("*/*"), key=lambda pack: pack.stat().st_size)
    assert packs
    packs[-1].unlink()  # the largest: it holds file contents the restore needs
    problems = verify_after_crash(scenario, ws)
    assert any(p.startswith("check --read-data repo exited") for p in problems), problems
    assert any("restore --tag base exited" in p or "byte-exactly" in p for p in problems), problems


def test_crash_point_fires_at_the_counted_operation(tmp_path: Path) -> None:
    """Positive control, through the launcher's single mode: where the process died."""
    scenario = make_scenario("backup", tmp_path)
    operations = count_operations(scenario, tmp_path)
    total = len(operations)
    # Its lock first; last, releasing it, then (after the operation) its audit record.
    assert operations[0][2].startswith("locks/")
    assert [op[0] for op in operations[-2:]] == ["delete", "put"], operations[-2:]
    assert operations[-2][2].startswith("locks/") and operations[-1][2].startswith("audit/")

    def crash_at(label: str, at: int, when: str) -> tuple[Path, int, dict[str, Any]]:
        ws = _workspace(scenario, tmp_path / label)
        count_file = ws / "count.json"
        env = _merged(
            _op_env(scenario, ws),
            {AT_ENV: str(at), WHEN_ENV: when, COUNT_FILE_ENV: str(count_file)},
        )
        result = subprocess.run(
            [*LAUNCHER, *_op_args(scenario, ws)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return ws, result.returncode, json.loads(count_file.read_text())

    ws, code, recorded = crash_at("first", 1, "before")
    assert code == CRASH_EXIT and recorded["count"] == 1 and recorded["crashed_at"] == 1
    assert not list((ws / "repo" / "locks").iterdir())  # died before taking its lock

    ws, code, recorded = crash_at("last", total, "after")
    assert code == CRASH_EXIT and recorded["count"] == total and recorded["crashed_at"] == total
    snapshots = len(list((scenario.pristine / "repo" / "snapshots").iterdir()))
    assert len(list((ws / "repo" / "snapshots").iterdir())) == snapshots + 1  # it had finished
    assert not list((ws / "repo" / "locks").iterdir())  # it had released its lock
    assert list((ws / "repo" / "audit").rglob("*"))  # and written its audit record

    ws, code, recorded = crash_at("beyond", total + 1, "after")
    assert code == 0 and recorded["count"] == total and recorded["crashed_at"] is None
