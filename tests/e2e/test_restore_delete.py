"""``restore --delete`` (issue 11 §2): remove what the target has and the snapshot lacks."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CLI
from tests.e2e.test_restore_selection import files_below
from tests.json_lines import last_json


def _snapshot_of(cli: CLI, tmp_path: Path) -> tuple[Path, str]:
    """A backed-up key tree, and the ``latest:DIR`` reference that restores it."""
    source = tmp_path / "src"
    for name in ("tls/a.crt", "tls/sub/b.crt", "ssh/id_ed25519", "env/.env"):
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    return source, f"latest:{source}"


def _restored(cli: CLI, ref: str, out: Path) -> None:
    cli.run("restore", ref, "--target", str(out), check=True)


def _plant_extras(out: Path, outside: Path) -> None:
    """Files, a directory tree and symlinks (one to a directory outside) the snapshot lacks."""
    (out / "tls" / "old.crt").write_text("stale")
    (out / "tls" / "sub" / "old.key").write_text("stale key")
    (out / "gone" / "deep").mkdir(parents=True)
    (out / "gone" / "deep" / "x.pem").write_text("x")
    outside.mkdir()
    (outside / "precious.crt").write_text("must survive")
    (out / "tls" / "escape").symlink_to(outside, target_is_directory=True)
    (out / "link.crt").symlink_to(outside / "precious.crt")


SNAPSHOT_FILES = {"tls/a.crt", "tls/sub/b.crt", "ssh/id_ed25519", "env/.env"}


def test_delete_removes_what_the_snapshot_lacks(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _snapshot_of(cli, tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    _restored(cli, ref, out)
    _plant_extras(out, outside)
    done = cli.run("restore", ref, "--target", str(out), "--delete", "--json", check=True)
    summary = last_json(done.stdout)
    assert files_below(out) == SNAPSHOT_FILES
    assert not (out / "gone").exists()
    # The symlinks went as links: nothing outside the target was followed or touched.
    assert not (out / "tls" / "escape").is_symlink() and not (out / "link.crt").is_symlink()
    assert (outside / "precious.crt").read_text() == "must survive"
    assert summary["files_deleted"] == 5 and summary["dirs_deleted"] == 2
    assert "tls/escape" in summary["deleted"] and "gone" in summary["deleted"]


def test_without_delete_extras_stay(cli: CLI, tmp_path: Path) -> None:
    """The positive control: a plain restore leaves the target's other entries alone."""
    _source, ref = _snapshot_of(cli, tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    _restored(cli, ref, out)
    _plant_extras(out, outside)
    _restored(cli, ref, out)
    assert {"tls/old.crt", "tls/sub/old.key", "gone/deep/x.pem"} <= files_below(out)
    assert (out / "tls" / "escape").is_symlink() and (out / "link.crt").is_symlink()


def test_delete_dry_run_only_reports(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _snapshot_of(cli, tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    _restored(cli, ref, out)
    _plant_extras(out, outside)
    before = files_below(out)
    done = cli.run("restore", ref, "--target", str(out), "--delete", "--dry-run", check=True)
    assert files_below(out) == before
    assert (out / "tls" / "escape").is_symlink()
    listed = {line.removeprefix("would delete ") for line in done.stdout.splitlines()}
    assert {"tls/old.crt", "tls/sub/old.key", "gone/deep/x.pem", "gone", "tls/escape"} <= listed
    assert "would delete 7 entries" in done.stdout


def test_delete_honours_exclude(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _snapshot_of(cli, tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    _restored(cli, ref, out)
    _plant_extras(out, outside)
    (out / "gone" / "keep.key").write_text("excluded, so kept")
    cli.run("restore", ref, "--target", str(out), "--delete", "--exclude", "*.key", check=True)
    got = files_below(out)
    assert "tls/sub/old.key" in got and "gone/keep.key" in got
    assert "tls/old.crt" not in got and "gone/deep/x.pem" not in got
    assert (out / "gone").is_dir()  # it still holds an excluded file


def test_delete_honours_include(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _snapshot_of(cli, tmp_path)
    out, outside = tmp_path / "out", tmp_path / "outside"
    _restored(cli, ref, out)
    _plant_extras(out, outside)
    cli.run("restore", ref, "--target", str(out), "--delete", "--include", "tls", check=True)
    got = files_below(out)
    # Inside the included directory the extras went; outside it everything stays.
    assert "tls/old.crt" not in got and "tls/sub/old.key" not in got
    assert not (out / "tls" / "escape").is_symlink()
    assert "gone/deep/x.pem" in got and (out / "link.crt").is_symlink()
    assert {"ssh/id_ed25519", "env/.env"} <= got
    assert (outside / "precious.crt").read_text() == "must survive"


def test_delete_whole_snapshot_restore(cli: CLI, tmp_path: Path) -> None:
    source, _ref = _snapshot_of(cli, tmp_path)
    out = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(out), check=True)
    inside = out / source.relative_to("/")
    (inside / "tls" / "old.crt").write_text("stale")
    (out / "stray.txt").write_text("not in the snapshot")
    cli.run("restore", "latest", "--target", str(out), "--delete", check=True)
    assert files_below(inside) == SNAPSHOT_FILES
    assert not (out / "stray.txt").exists()
