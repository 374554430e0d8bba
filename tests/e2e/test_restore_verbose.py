"""``restore -v/-vv`` (issue 11 §2): restic 0.17's per-entry listing, human and ``--json``."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CLI
from tests.json_lines import json_lines, messages


def _backed_up(cli: CLI, tmp_path: Path) -> tuple[Path, str]:
    """A small key tree, backed up; and the ``latest:DIR`` reference restoring it."""
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "leaf.crt").write_text("certificate")
    (source / "id_ed25519").write_text("key")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    return source, f"latest:{source}"


def _listed(stdout: str) -> dict[str, str]:
    """path -> action of the per-entry lines (``restored  PATH with size ...``)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        for action in ("restored", "updated", "unchanged", "deleted"):
            if line.startswith(f"{action:<9} "):  # restic's padded column, not the summary
                found[line[10:].split(" with size ")[0]] = action
    return found


def test_v_lists_restored_updated_and_deleted(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _backed_up(cli, tmp_path)
    out = tmp_path / "out"
    first = cli.run("restore", ref, "--target", str(out), "-v", check=True)
    assert _listed(first.stdout) == {"tls/leaf.crt": "restored", "id_ed25519": "restored"}
    assert "restored 2 files" in first.stdout
    (out / "id_ed25519").write_text("changed")
    (out / "stale.pem").write_text("stale")
    again = cli.run(
        "-v", "restore", ref, "--target", str(out), "--overwrite", "if-changed", "--delete",
        check=True,
    )  # fmt: skip
    # -v: the unchanged file is not listed; the changed one is updated, the extra deleted.
    assert _listed(again.stdout) == {"id_ed25519": "updated", "stale.pem": "deleted"}
    assert "deleted 1 entry" in again.stdout


def test_vv_also_lists_unchanged(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _backed_up(cli, tmp_path)
    out = tmp_path / "out"
    cli.run("restore", ref, "--target", str(out), check=True)
    done = cli.run(
        "restore", ref, "--target", str(out), "--overwrite", "if-changed", "-vv", check=True
    )
    assert _listed(done.stdout) == {"tls/leaf.crt": "unchanged", "id_ed25519": "unchanged"}
    assert "restored 0 files" in done.stdout


def test_without_v_nothing_is_listed(cli: CLI, tmp_path: Path) -> None:
    """The control: a plain restore prints no per-entry lines."""
    _source, ref = _backed_up(cli, tmp_path)
    done = cli.run("restore", ref, "--target", str(tmp_path / "out"), check=True)
    assert _listed(done.stdout) == {}
    plain = cli.run("restore", ref, "--target", str(tmp_path / "o2"), "--json", check=True)
    assert messages(plain.stdout, "verbose_status") == []


def test_json_verbose_status_lines_before_the_summary(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _backed_up(cli, tmp_path)
    out = tmp_path / "out"
    cli.run("restore", ref, "--target", str(out), check=True)
    (out / "tls" / "leaf.crt").write_text("tampered certificate")
    done = cli.run(
        "restore", ref, "--target", str(out), "--overwrite", "if-changed", "--json", "-vv",
        check=True,
    )  # fmt: skip
    lines = json_lines(done.stdout)
    assert lines[-1]["message_type"] == "summary"
    verbose = {line["item"]: line for line in messages(done.stdout, "verbose_status")}
    assert verbose == {
        "tls/leaf.crt": {
            "message_type": "verbose_status",
            "action": "updated",
            "item": "tls/leaf.crt",
            "size": len("certificate"),
        },
        "id_ed25519": {
            "message_type": "verbose_status",
            "action": "unchanged",
            "item": "id_ed25519",
            "size": len("key"),
        },
    }
    assert (out / "tls" / "leaf.crt").read_text() == "certificate"


def test_dry_run_v_lists_what_would_be_restored(cli: CLI, tmp_path: Path) -> None:
    _source, ref = _backed_up(cli, tmp_path)
    out = tmp_path / "out"
    done = cli.run("restore", ref, "--target", str(out), "--dry-run", "-v", check=True)
    assert "would restore tls/leaf.crt with size 11 B" in done.stdout.splitlines()
    assert "would restore 2 files, " in done.stdout
    assert not out.exists()
