"""Patterns (restic's rules) in backup and restore, and restore's refusals (issue 11 §1.3-7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.e2e.test_cli import assert_one_line_error
from tests.json_lines import last_json


def key_tree(root: Path) -> Path:
    """The issue's layout: certificates at two depths, a bulk directory, a leaf bundle."""
    files = [
        "tls/a.crt",
        "tls/b.crt",
        "tls/k.key",
        "tls/sub/c.crt",
        "tls/sub/deep/d.crt",
        "tls/leaf/e.pem",
        "tls/leaf/inner/f.crt",
        "data/bulk/p/g.bin",
        "data/bulk/h.crt",
        "data/keep.env",
        "ssh/id_ed25519",
        "CAPS/SERVER.CRT",
    ]
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return root


def files_below(root: Path) -> set[str]:
    """Every file below ``root``, as paths relative to it."""
    return {str(Path(d, f).relative_to(root)) for d, _dirs, names in os.walk(root) for f in names}


def restored(root: Path, source: Path) -> set[str]:
    """Files restored below ``root`` for a whole-snapshot restore of ``source``."""
    inside = root / source.relative_to("/")
    return files_below(inside) if inside.exists() else set()


def test_backup_exclude_star_stays_in_one_component(cli: CLI, tmp_path: Path) -> None:
    source = key_tree(tmp_path / "x")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--exclude", f"{source}/tls/*.crt", check=True)
    out = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(out), check=True)
    got = restored(out, source)
    # `*` does not cross `/`: only the two top-level certificates are excluded.
    assert "tls/a.crt" not in got and "tls/b.crt" not in got
    assert {"tls/sub/c.crt", "tls/sub/deep/d.crt", "tls/leaf/inner/f.crt"} <= got
    assert len(got) == 10


def test_backup_relative_exclude_matches_at_any_depth(cli: CLI, tmp_path: Path) -> None:
    source = key_tree(tmp_path / "x")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--exclude", "data/bulk", check=True)
    out = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(out), check=True)
    got = restored(out, source)
    assert not any(path.startswith("data/bulk") for path in got)
    assert "data/keep.env" in got and len(got) == 10


def test_backup_iexclude_and_pattern_files(cli: CLI, tmp_path: Path) -> None:
    source = key_tree(tmp_path / "x")
    exact = tmp_path / "exact.txt"
    exact.write_text("# comment\n\nssh\n")
    loose = tmp_path / "loose.txt"
    loose.write_text("*.CRT\n")
    cli.run("init", check=True)
    cli.run(
        "backup",
        str(source),
        "--exclude-file",
        str(exact),
        "--iexclude-file",
        str(loose),
        "--iexclude",
        "K.KEY",
        check=True,
    )
    out = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(out), check=True)
    assert restored(out, source) == {
        "tls/leaf/e.pem",
        "data/bulk/p/g.bin",
        "data/keep.env",
    }
    missing = cli.run("backup", str(source), "--exclude-file", str(tmp_path / "nope"))
    assert_one_line_error(missing, 1)
    assert "nope" in missing.stderr


@pytest.fixture
def snapshot(cli: CLI, tmp_path: Path) -> Path:
    """A repository with one snapshot of :func:`key_tree`; returns the source."""
    source = key_tree(tmp_path / "x")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    return source


def test_restore_include_of_a_directory_includes_its_contents(
    cli: CLI, tmp_path: Path, snapshot: Path
) -> None:
    out = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(out), "--include", "tls/leaf", check=True)
    assert restored(out, snapshot) == {"tls/leaf/e.pem", "tls/leaf/inner/f.crt"}
    anchored = tmp_path / "anchored"
    cli.run(
        "restore", "latest", "--target", str(anchored), "--include", f"{snapshot}/tls/*.crt",
        check=True,
    )  # fmt: skip
    assert restored(anchored, snapshot) == {"tls/a.crt", "tls/b.crt"}


def test_restore_insensitive_and_pattern_files(cli: CLI, tmp_path: Path, snapshot: Path) -> None:
    includes = tmp_path / "inc.txt"
    includes.write_text("# the certificates\n*.CRT\n")
    excludes = tmp_path / "exc.txt"
    excludes.write_text("SUB\n")
    out = tmp_path / "out"
    cli.run(
        "restore",
        "latest",
        "--target",
        str(out),
        "--iinclude-file",
        str(includes),
        "--iexclude-file",
        str(excludes),
        "--exclude",
        "leaf",
        check=True,
    )
    assert restored(out, snapshot) == {
        "tls/a.crt",
        "tls/b.crt",
        "data/bulk/h.crt",
        "CAPS/SERVER.CRT",
    }
    plain = tmp_path / "plain"
    cli.run(
        "restore", "latest", "--target", str(plain), "--include-file", str(includes),
        "--iinclude", "K.KEY", "--exclude-file", str(excludes), check=True,
    )  # fmt: skip
    # case matters in --include-file, not in --iinclude; SUB excludes nothing exactly
    assert restored(plain, snapshot) == {"CAPS/SERVER.CRT", "tls/k.key"}


def test_restore_that_selects_nothing_fails(cli: CLI, tmp_path: Path, snapshot: Path) -> None:
    out = tmp_path / "out"
    result = cli.run("restore", "latest", "--target", str(out), "--include", "tls/nothing")
    assert_one_line_error(result, 1)
    assert "select nothing" in result.stderr
    assert not out.exists()
    everything = cli.run("restore", "latest", "--target", str(out), "--exclude", str(snapshot))
    assert_one_line_error(everything, 1)
    assert not out.exists()


def test_restore_snapshot_and_at_are_refused(cli: CLI, tmp_path: Path, snapshot: Path) -> None:
    out = tmp_path / "out"
    result = cli.run("restore", "latest", "--at", "2999-01-01 00:00", "--target", str(out))
    assert_one_line_error(result, 1)
    assert "--at" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "below_file", "proc"])
def test_restore_to_an_impossible_target_is_one_line(
    cli: CLI, tmp_path: Path, snapshot: Path, kind: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    target = {"file": str(afile), "below_file": str(afile / "sub"), "proc": "/proc/nope"}[kind]
    result = cli.run("restore", "latest", "--target", target)
    assert_one_line_error(result, 1)
    assert "restore target" in result.stderr and "--target" in result.stderr
    assert "unexpected error" not in result.stderr
    assert afile.read_text() == "keep me"


def test_restore_warning_once_and_relative_paths(cli: CLI, tmp_path: Path, snapshot: Path) -> None:
    out = tmp_path / "out"
    (out / "tls").mkdir(parents=True)
    (out / "tls" / "leaf").symlink_to(tmp_path)  # the restore must not write through it
    result = cli.run("restore", f"latest:{snapshot}", "--target", str(out))
    assert result.returncode == 1, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(set(warnings)) == 4, result.stderr
    assert all(" tls/leaf" in line and " /tls/leaf" not in line for line in warnings)
    assert "4 entries could not be restored" in result.stderr
    assert not (tmp_path / "e.pem").exists()
    as_json = cli.run("restore", f"latest:{snapshot}", "--target", str(out), "--json")
    summary = last_json(as_json.stdout)
    assert sorted(summary["failed"]) == [
        "tls/leaf",
        "tls/leaf/e.pem",
        "tls/leaf/inner",
        "tls/leaf/inner/f.crt",
    ]
    assert len(summary["errors"]) == 4


def test_restore_sparse_leaves_holes(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "x"
    source.mkdir()
    image = source / "disk.img"
    with image.open("wb") as handle:
        handle.write(b"head" * 1000)
        handle.write(bytes(20 * 1024 * 1024))  # at least one all-zero chunk
        handle.write(b"tail")
    (source / "zeros").write_bytes(bytes(9 * 1024 * 1024))  # ends in a hole
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    dense, sparse = tmp_path / "dense", tmp_path / "sparse"
    cli.run("restore", "latest", "--target", str(dense), check=True)
    cli.run("restore", "latest", "--target", str(sparse), "--sparse", "--verify", check=True)
    for name in ("disk.img", "zeros"):
        original = (source / name).read_bytes()
        dense_file = dense / source.relative_to("/") / name
        sparse_file = sparse / source.relative_to("/") / name
        assert sparse_file.read_bytes() == original == dense_file.read_bytes()
        allocated = sparse_file.stat().st_blocks * 512
        assert allocated <= len(original) - 8 * 1024 * 1024 + 65536, (name, allocated)
        assert dense_file.stat().st_blocks * 512 >= len(original) - 4096
