"""``keyark backup``'s restic flags and JSON stream, through the installed command.

Each test drives the installed ``keyark`` in a subprocess and looks at what a
restore brings back (or at the JSON lines restic scripts read): the ``status``,
``verbose_status`` and ``summary`` messages with restic's field names, ``-v``/``-vv``
listings, ``--stdin``/``--stdin-from-command``, the ``--files-from`` family,
``--one-file-system``, ``--exclude-caches``/``--exclude-if-present``/
``--exclude-larger-than``, ``--time``, ``--parent`` and ``--force``.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from tests.conftest import CLI, mounted_tmpfs
from tests.json_lines import json_lines, last_json, messages

#: The fields of restic 0.14's ``backup --json`` summary message.
RESTIC_SUMMARY = {
    "message_type",
    "files_new",
    "files_changed",
    "files_unmodified",
    "dirs_new",
    "dirs_changed",
    "dirs_unmodified",
    "data_blobs",
    "tree_blobs",
    "data_added",
    "total_files_processed",
    "total_bytes_processed",
    "total_duration",
    "snapshot_id",
}
#: The fields of restic's ``status`` message (those restic leaves out when zero included).
RESTIC_STATUS = {
    "message_type",
    "seconds_elapsed",
    "seconds_remaining",
    "percent_done",
    "total_files",
    "files_done",
    "total_bytes",
    "bytes_done",
    "current_files",
}
RESTIC_VERBOSE = {
    "message_type",
    "action",
    "item",
    "duration",
    "data_size",
    "data_size_in_repo",
    "metadata_size",
    "metadata_size_in_repo",
    "total_files",
}


def _restored(cli: CLI, tmp_path: Path, name: str, *snapshot: str) -> Path:
    """Restore ``snapshot`` (default ``latest``) into a fresh directory; return it."""
    target = tmp_path / name
    cli.run("restore", *(snapshot or ("latest",)), "--target", str(target), check=True)
    return target


def _inside(target: Path, source: Path) -> Path:
    return target / source.relative_to("/")


def _snapshot_count(cli: CLI) -> int:
    return len(last_json(cli.run("snapshots", "--json", check=True).stdout))


def _compressible_source(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "conf").mkdir(parents=True)
    (source / "conf" / "app.env").write_text("TOKEN=abcdef\n" * 20_000)  # compresses well
    (source / "tls.key").write_bytes(os.urandom(50_000))
    return source


# ----------------------------------------------------------------- JSON parity
def test_json_stream_has_restics_status_and_summary(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    lines = json_lines(cli.run("backup", str(source), "--json", check=True).stdout)
    assert [line["message_type"] for line in lines][-1] == "summary"
    status = [line for line in lines if line["message_type"] == "status"]
    assert status, "at least one status line while the backup runs"
    assert RESTIC_STATUS - {"seconds_remaining"} <= set(status[0])
    assert 0.0 <= status[0]["percent_done"] <= 1.0 and status[0]["total_files"] == 2
    summary = lines[-1]
    assert RESTIC_SUMMARY <= set(summary), RESTIC_SUMMARY - set(summary)
    assert summary["files_new"] == summary["total_files_processed"] == 2
    assert summary["total_bytes_processed"] == 20_000 * 13 + 50_000
    assert summary["files_unmodified"] == summary["files_unchanged"] == 0
    assert summary["data_added"] > summary["data_added_packed"] > 50_000  # compressed
    assert summary["total_duration"] == summary["duration_seconds"] > 0
    again = last_json(cli.run("backup", str(source), "--json", check=True).stdout)
    assert again["files_unmodified"] == 2 and again["dirs_unmodified"] == 2
    assert again["files_changed"] == 0 and again["data_blobs"] == 0


def test_dry_run_reports_plain_and_stored_bytes_like_a_real_run(cli: CLI, tmp_path: Path) -> None:
    """Bug 9: a dry run said "added" in plain bytes where a real run said stored bytes."""
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    dry = last_json(cli.run("backup", str(source), "--dry-run", "--json", check=True).stdout)
    real = last_json(cli.run("backup", str(source), "--json", check=True).stdout)
    assert dry["dry_run"] and dry["data_added"] == real["data_added"]
    assert dry["data_added_packed"] == real["data_added_packed"] == real["bytes_added"]
    assert dry["bytes_added"] == real["bytes_added"] < real["data_added"]
    text = cli.run("backup", str(tmp_path), "--dry-run", check=True).stdout
    assert "stored)" in text and "dry run" in text


def test_an_unreadable_source_is_restics_error_line(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    missing = tmp_path / "gone"
    cli.run("init", check=True)
    done = cli.run("backup", str(source), str(missing), "--json")
    assert done.returncode == 3, done.stderr
    errors = [e for e in json_lines(done.stderr) if e.get("message_type") == "error"]
    assert len(errors) == 1 and errors[0]["item"] == str(missing)
    assert errors[0]["during"] == "archival" and errors[0]["code"] == "source.unreadable"
    assert str(missing) in errors[0]["error"]["message"]
    assert last_json(done.stdout)["errors"]


def test_restore_summary_has_restics_fields(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    done = cli.run("restore", "latest", "--target", str(tmp_path / "out"), "--json", check=True)
    summary = last_json(done.stdout)
    assert summary["message_type"] == "summary" and summary["files_restored"] == 2
    assert summary["total_files"] == 2 and summary["files_skipped"] == 0
    assert isinstance(summary["seconds_elapsed"], int)


# ----------------------------------------------------------------- -v / -vv
def test_verbose_lists_new_and_changed_files_and_vv_every_file(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    first = cli.run("backup", str(source), "-v", check=True).stdout
    assert f"new       {source}/tls.key" in first and f"new       {source}/conf/" in first
    (source / "tls.key").write_bytes(os.urandom(100))
    (source / "added.pem").write_text("pem")
    dry = cli.run("backup", str(source), "-v", "--dry-run", check=True).stdout
    assert f"new       {source}/added.pem" in dry and f"modified  {source}/tls.key" in dry
    assert "saved in" not in dry and "would add" in dry  # a dry run saves nothing
    second = cli.run("backup", str(source), "-v", check=True).stdout
    assert f"modified  {source}/tls.key" in second and f"new       {source}/added.pem" in second
    assert "app.env" not in second  # unchanged: only -vv lists it
    assert "saved in" in second  # positive control: a real run says it saved
    third = cli.run("backup", str(source), "-vv", check=True).stdout
    assert f"unchanged {source}/conf/app.env" in third
    assert f"unchanged {source}/conf/" in third
    quiet = cli.run("backup", str(source), check=True).stdout
    assert "unchanged" not in quiet.split("Files:")[0] and "app.env" not in quiet


def test_verbose_json_gives_verbose_status_lines(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    out = cli.run("backup", str(source), "-v", "--json", check=True).stdout
    items = {line["item"]: line for line in messages(out, "verbose_status")}
    assert RESTIC_VERBOSE <= set(items[f"{source}/tls.key"])
    assert items[f"{source}/tls.key"]["action"] == "new"
    assert items[f"{source}/tls.key"]["data_size"] == 50_000
    assert items[f"{source}/conf/"]["metadata_size"] > 0
    plain = cli.run("backup", str(source), "--json", check=True).stdout
    assert not messages(plain, "verbose_status")


# ----------------------------------------------------------------- streams
def test_stdin_is_backed_up_as_the_named_file(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    secret = b"apiVersion: v1\nkind: Secret\ndata:\n  token: c2VjcmV0\n"
    done = cli.run("backup", "--stdin", "--stdin-filename", "secret.yaml", "--json", input=secret)
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["files_new"] == 1
    snaps = last_json(cli.run("snapshots", "--json", check=True).stdout)
    assert snaps[0]["paths"] == ["/secret.yaml"]
    restored = _restored(cli, tmp_path, "out") / "secret.yaml"
    assert restored.read_bytes() == secret
    assert restored.stat().st_mode & 0o777 == 0o600
    mixed = cli.run("backup", "--stdin", str(tmp_path), input=b"x")
    assert mixed.returncode == 1 and "alone" in mixed.stderr


def test_stdin_from_command_saves_its_output(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    cli.run(
        "backup",
        "--stdin-from-command",
        "--stdin-filename",
        "db.sql",
        "--",
        "sh",
        "-c",
        "echo 'CREATE TABLE keys;'",
        check=True,
    )
    restored = _restored(cli, tmp_path, "out") / "db.sql"
    assert restored.read_text() == "CREATE TABLE keys;\n"


def test_data_source_command_gets_no_keyark_secret(cli: CLI, tmp_path: Path) -> None:
    """The command's environment keeps its own credentials, never keyark's passphrase."""
    cli.run("init", check=True)
    secrets = {"KEYARK_PKCS11_PIN": "pin-4242", "KEYARK_NEW_PASSWORD": "new-pass-4242"}
    cli.run(
        "backup",
        "--stdin-from-command",
        "--stdin-filename",
        "env.txt",
        "--",
        "env",
        env={**secrets, "VAULT_TOKEN": "vault-token-4242"},
        check=True,
    )
    seen = (_restored(cli, tmp_path, "out") / "env.txt").read_text()
    assert "VAULT_TOKEN=vault-token-4242" in seen  # the command's own credential
    assert f"KEYARK_REPOSITORY={cli.env['KEYARK_REPOSITORY']}" in seen  # not a secret
    assert cli.env["KEYARK_PASSWORD"] not in seen and "KEYARK_PASSWORD=" not in seen
    for value in secrets.values():
        assert value not in seen


def test_a_failing_command_fails_the_backup_and_keeps_no_snapshot(cli: CLI) -> None:
    cli.run("init", check=True)
    failed = cli.run(
        "backup", "--stdin-from-command", "--", "sh", "-c", "echo partial; exit 3", "--json"
    )
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert "status 3" in failed.stderr and "Traceback" not in failed.stderr
    assert not messages(failed.stdout, "summary")
    assert _snapshot_count(cli) == 0
    missing = cli.run("backup", "--stdin-from-command", "--", "/nonexistent/keyark-test")
    assert missing.returncode == 1 and "cannot run" in missing.stderr
    assert _snapshot_count(cli) == 0


# ----------------------------------------------------------------- file lists
def test_files_from_lists(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("a.key", "b.key", "c.crt", "odd[1].pem", "-dash", "not listed"):
        (source / name).write_text(name)
    globs = tmp_path / "globs"
    globs.write_text(f"# keys\n\n  {source}/*.key  \n{source}/nothing-*.x\n")
    verbatim = tmp_path / "verbatim"
    verbatim.write_text(f"{source}/odd[1].pem\n\n")
    raw = tmp_path / "raw"
    raw.write_bytes(f"{source}/-dash\0{source}/c.crt\0".encode())
    cli.run("init", check=True)
    done = cli.run(
        "backup",
        "--files-from",
        str(globs),
        "--files-from-verbatim",
        str(verbatim),
        "--files-from-raw",
        str(raw),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert "source.unmatched" in done.stderr and "nothing-*.x" in done.stderr
    restored = _inside(_restored(cli, tmp_path, "out"), source)
    assert sorted(p.name for p in restored.iterdir()) == [
        "-dash",
        "a.key",
        "b.key",
        "c.crt",
        "odd[1].pem",
    ]
    unterminated = tmp_path / "unterminated"
    unterminated.write_bytes(f"{source}/a.key".encode())
    refused = cli.run("backup", "--files-from-raw", str(unterminated))
    assert refused.returncode == 1 and "NUL" in refused.stderr


# ----------------------------------------------------------------- filters
def test_exclude_caches_if_present_and_larger_than(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    for sub in ("cache/sub", "fake-cache", "marked", "keep"):
        (source / sub).mkdir(parents=True)
    tag = b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache"
    (source / "cache" / "CACHEDIR.TAG").write_bytes(tag)
    (source / "cache" / "sub" / "blob").write_text("cached")
    (source / "fake-cache" / "CACHEDIR.TAG").write_text("no signature")
    (source / "fake-cache" / "kept").write_text("kept")
    (source / "marked" / ".nobackup").write_text("")
    (source / "marked" / "secret").write_text("excluded")
    (source / "keep" / "small").write_text("small")
    (source / "keep" / "big").write_bytes(b"\0" * 5000)
    cli.run("init", check=True)
    cli.run(
        "backup",
        str(source),
        "--exclude-caches",
        "--exclude-if-present",
        ".nobackup",
        "--exclude-larger-than",
        "1K",
        check=True,
    )
    root = _inside(_restored(cli, tmp_path, "out"), source)
    assert sorted(p.name for p in (root / "cache").iterdir()) == ["CACHEDIR.TAG"]
    assert sorted(p.name for p in (root / "fake-cache").iterdir()) == ["CACHEDIR.TAG", "kept"]
    assert sorted(p.name for p in (root / "marked").iterdir()) == [".nobackup"]
    assert sorted(p.name for p in (root / "keep").iterdir()) == ["small"]
    cli.run("backup", str(source), check=True)  # control: without the flags, all of it
    full = _inside(_restored(cli, tmp_path, "full"), source)
    assert (full / "cache" / "sub" / "blob").exists() and (full / "keep" / "big").exists()


def test_one_file_system_keeps_a_mount_point_empty(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "local.key").write_text("local")
    with mounted_tmpfs(source / "mnt") as mount:
        (mount / "other-fs.key").write_text("elsewhere")
        cli.run("init", check=True)
        cli.run("backup", str(source), "-x", check=True)
        cli.run("backup", str(source), check=True)
    snaps = last_json(cli.run("snapshots", "--json", check=True).stdout)
    stayed = _inside(_restored(cli, tmp_path, "x", snaps[0]["id"]), source)
    assert (stayed / "local.key").exists() and (stayed / "mnt").is_dir()
    assert list((stayed / "mnt").iterdir()) == []
    crossed = _inside(_restored(cli, tmp_path, "all", snaps[1]["id"]), source)
    assert (crossed / "mnt" / "other-fs.key").read_text() == "elsewhere"


# ----------------------------------------------------------------- time, parent, force
def test_time_parent_and_force(cli: CLI, tmp_path: Path) -> None:
    source = _compressible_source(tmp_path)
    cli.run("init", check=True)
    first = last_json(cli.run("backup", str(source), "--json", check=True).stdout)
    cli.run("backup", str(source), "--time", "2021-03-04 05:06:07", check=True)
    snaps = last_json(cli.run("snapshots", "--json", check=True).stdout)
    dated = next(s for s in snaps if s["id"] != first["snapshot_id"])
    assert dated["time"].startswith("2021-03-04")
    assert dated["parent"] == first["snapshot_id"]
    latest = last_json(cli.run("backup", str(source), "--json", check=True).stdout)
    assert latest["parent"] == first["snapshot_id"]  # the newest by time, not the last made
    named = last_json(
        cli.run("backup", str(source), "--parent", dated["id"][:8], "--json", check=True).stdout
    )
    assert named["parent"] == dated["id"] and named["files_unmodified"] == 2
    forced = last_json(cli.run("backup", str(source), "--force", "--json", check=True).stdout)
    assert forced["parent"] is None and forced["files_new"] == 2
    assert forced["bytes_read"] == forced["total_bytes_processed"] > 0
    unknown = cli.run("backup", str(source), "--parent", "ffffffff")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr


# ----------------------------------------------------------------- special files
def test_fifos_and_devices_are_stored_and_restored_sockets_skipped(
    cli: CLI, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    os.mkfifo(source / "pipe", 0o640)
    as_root = os.geteuid() == 0
    if as_root:  # only root may make (and restore) device nodes
        os.mknod(source / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(source / "loop", 0o600 | stat.S_IFBLK, os.makedev(7, 200))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(source / "agent.sock"))
    try:
        cli.run("init", check=True)
        done = cli.run("backup", str(source), "--json")
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    skipped = [e for e in json_lines(done.stderr) if e.get("code") == "source.skipped"]
    assert len(skipped) == 1 and "agent.sock" in skipped[0]["message"]
    restored = _inside(_restored(cli, tmp_path, "out"), source)
    pipe = os.lstat(restored / "pipe")
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_IMODE(pipe.st_mode) == 0o640
    assert not (restored / "agent.sock").exists()
    if as_root:
        null, loop = os.lstat(restored / "null"), os.lstat(restored / "loop")
        assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
        assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 200)
