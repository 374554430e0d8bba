"""Issue 11, bugs 8-10, through the installed command: key passwd, copy, check, prune,
debug cat, forget, and healing a damaged pack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import CLI, PASSWORD


def keys_json(cli: CLI, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(
        cli.run("key", "list", "--json", env=env, check=True).stdout
    )
    return listed


# --------------------------------------------------------------------- bug 8: key passwd
def test_passwd_without_new_passphrase_names_the_new_passphrase_variables(cli: CLI) -> None:
    cli.run("init", check=True)
    result = cli.run("key", "passwd")  # no KEYARK_NEW_PASSWORD, no terminal
    assert result.returncode == 1, result.stderr
    assert "KEYARK_NEW_PASSWORD" in result.stderr, result.stderr
    assert "KEYARK_PASSWORD," not in result.stderr, result.stderr
    added = cli.run("key", "add")
    assert "KEYARK_NEW_PASSWORD" in added.stderr, added.stderr


def test_passwd_keeps_the_label_and_the_kdf(cli: CLI) -> None:
    cli.run("init", check=True)
    cli.run(
        "key",
        "add",
        "--kdf",
        "pbkdf2",
        "--label",
        "ops laptop",
        env={"KEYARK_NEW_PASSWORD": "second passphrase"},
        check=True,
    )
    as_second = {"KEYARK_PASSWORD": "second passphrase"}
    cli.run("key", "passwd", env={**as_second, "KEYARK_NEW_PASSWORD": "third one"}, check=True)
    current = [k for k in keys_json(cli, {"KEYARK_PASSWORD": "third one"}) if k["current"]]
    assert len(current) == 1
    assert current[0]["label"] == "ops laptop"
    assert current[0]["details"]["kdf"] == "pbkdf2-sha256", current[0]
    # Explicit choices still win.
    third = {"KEYARK_PASSWORD": "third one", "KEYARK_NEW_PASSWORD": "fourth one"}
    cli.run("key", "passwd", "--kdf", "argon2id", "--label", "new", env=third, check=True)
    current = [k for k in keys_json(cli, {"KEYARK_PASSWORD": "fourth one"}) if k["current"]]
    assert current[0]["label"] == "new" and current[0]["details"]["kdf"] == "argon2id"


# --------------------------------------------------------------------- bug 8: copy
def test_copy_names_the_repository_that_refused_the_passphrase(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "source"
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.key").write_bytes(b"key material\n")
    cli.run("-r", str(source), "init", check=True)
    cli.run("-r", str(source), "backup", str(data), check=True)
    cli.run("init", check=True)

    wrong_source = cli.run(
        "copy", "--from-repo", str(source), "--all", env={"KEYARK_FROM_PASSWORD": "nope-nope"}
    )
    assert wrong_source.returncode == 12, wrong_source.stderr
    assert f"source repository {source}" in wrong_source.stderr, wrong_source.stderr
    assert "KEYARK_FROM_PASSWORD" in wrong_source.stderr, wrong_source.stderr

    wrong_target = cli.run(
        "copy",
        "--from-repo",
        str(source),
        "--all",
        env={"KEYARK_FROM_PASSWORD": PASSWORD, "KEYARK_PASSWORD": "nope-nope"},
    )
    assert wrong_target.returncode == 12, wrong_target.stderr
    assert f"destination repository {cli.repo}" in wrong_target.stderr, wrong_target.stderr


# --------------------------------------------------------------------- bug 9: check, prune
def test_check_refuses_read_data_with_a_subset(cli: CLI) -> None:
    cli.run("init", check=True)
    result = cli.run("check", "--read-data", "--read-data-subset", "10%")
    assert result.returncode == 1, result.stderr
    assert "--read-data and --read-data-subset" in result.stderr, result.stderr
    assert "checked" not in result.stdout


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_bytes(content)
    return root


def test_check_and_prune_agree_about_duplicate_copies(cli: CLI, tmp_path: Path) -> None:
    """A blob stored twice (as when two backups run at once) is unused space: check's
    note says what prune does about it, and prune says why it kept it."""
    from keyark import ops
    from keyark.crypto.slots import Credentials

    shared, second_big = os.urandom(5000), os.urandom(300_000)
    first = _tree(tmp_path / "one", {"big": os.urandom(300_000), "shared": shared})
    second = _tree(tmp_path / "two", {"big": second_big, "shared": shared})
    cli.run("init", check=True)
    cli.run("backup", str(first), check=True)
    # A second writer that had not seen the first one's index stores the shared file again.
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    try:
        repo.blobs.load_index()
        repo.blobs.index.clear()
        repo.blobs.save_blob(0, shared)
        repo.blobs.save_blob(0, second_big)
        repo.blobs.flush()
    finally:
        repo.close()
    cli.run("backup", str(second), check=True)

    checked = cli.run("check", check=True).stdout
    note = next(line for line in checked.splitlines() if "stored more than once" in line)
    assert note.startswith("note: index: 1 blob copies"), note  # not "index index/:"
    assert "above its limit" in note, note
    pruned = cli.run("prune", check=True).stdout
    assert "within --max-unused" in pruned, pruned
    cli.run("prune", "--max-unused", "0", check=True)
    assert "stored more than once" not in cli.run("check", check=True).stdout


# --------------------------------------------------------------------- bug 9: debug cat
def test_debug_cat_latest_blob_prefix_and_one_lock(cli: CLI, tmp_path: Path) -> None:
    from keyark import ops
    from keyark.crypto.slots import Credentials

    data = _tree(tmp_path / "data", {"a.key": b"key material\n"})
    cli.run("init", check=True)
    cli.run("backup", str(data), check=True)
    cli.run("backup", str(data), check=True)
    listed = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    newest = max(listed, key=lambda s: s["time"])["id"]
    latest = cli.run("debug", "cat", "snapshot", "latest")
    assert latest.returncode == 0, latest.stderr
    assert json.loads(latest.stdout)["id"] == newest

    tree = json.loads(latest.stdout)["tree"]
    by_prefix = cli.run("debug", "cat", "blob", tree[:10])
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert json.loads(by_prefix.stdout)["id"] == tree

    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    try:
        held = [repo.lock("first", exclusive=False), repo.lock("second", exclusive=False)]
        wanted = held[1].name.rsplit("/", 1)[-1]
        other = held[0].name.rsplit("/", 1)[-1]
        # The shortest prefix of the random part that tells the two shared locks apart:
        # the random part alone names a shared lock, with or without "shared-".
        random_part, other_part = wanted.removeprefix("shared-"), other.removeprefix("shared-")
        digits = next(n for n in range(1, 33) if random_part[:n] != other_part[:n])
        for ref in (random_part[:digits], "shared-" + random_part[:digits]):
            shown = cli.run("debug", "cat", "lock", ref)
            assert shown.returncode == 0, shown.stderr
            view = json.loads(shown.stdout)
            assert view["name"].endswith(wanted) and view["operation"] == "second", view
        common = cli.run("debug", "cat", "lock", "shared-")
        assert common.returncode != 0 and "ambiguous" in common.stderr
        missing = cli.run("debug", "cat", "lock", "ffffffffffff")
        assert missing.returncode != 0 and "no lock" in missing.stderr
        for lock in held:
            lock.release()
    finally:
        repo.close()


# --------------------------------------------------------------------- bug 9: forget
def test_forget_keep_last_zero_says_what_zero_means(cli: CLI, tmp_path: Path) -> None:
    data = _tree(tmp_path / "data", {"a.key": b"key material\n"})
    cli.run("init", check=True)
    cli.run("backup", str(data), check=True)
    result = cli.run("forget", "--keep-last", "0")
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("keyark: --keep-last 0 keeps no snapshot"), line
    assert "nothing was removed" in line
    assert len(json.loads(cli.run("snapshots", "--json", check=True).stdout)) == 1


# --------------------------------------------------------------------- bug 10: heal a pack
def _flip_a_byte_in_the_largest_pack(repo: Path) -> str:
    pack = max(
        (p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    content = bytearray(pack.read_bytes())
    content[1000] ^= 0xFF  # inside the large blob, far from the header
    pack.write_bytes(bytes(content))
    return pack.name


def test_a_damaged_blob_is_stored_again_by_the_next_backup(cli: CLI, tmp_path: Path) -> None:
    big = os.urandom(300_000)
    data = _tree(tmp_path / "data", {"server.p12": big, "server.key": b"-----BEGIN KEY-----\n"})
    cli.run("init", check=True)
    cli.run("backup", str(data), check=True)
    pack = _flip_a_byte_in_the_largest_pack(cli.repo)

    checked = cli.run("check", "--read-data")
    assert checked.returncode != 0, checked.stdout

    # The next backup must not point the new snapshot at the damaged copy.
    cli.run("backup", str(data), check=True)
    healed = tmp_path / "healed"
    restored = cli.run("restore", "latest", "--target", str(healed))
    assert restored.returncode == 0, restored.stderr
    assert (healed / str(data).lstrip("/") / "server.p12").read_bytes() == big
    assert f"repair packs {pack}" in checked.stdout, checked.stdout

    # Repairing the pack salvages the rest and unindexes it: the repository is clean.
    cli.run("repair", "packs", pack[:12], check=True)
    clean = cli.run("check", "--read-data")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    final = tmp_path / "final"
    cli.run("restore", "latest", "--target", str(final), check=True)
    assert (final / str(data).lstrip("/") / "server.p12").read_bytes() == big


def test_repair_packs_then_backup_heals(cli: CLI, tmp_path: Path) -> None:
    """restic's order: check names the pack, repair packs, back up, check is clean."""
    big = os.urandom(300_000)
    data = _tree(tmp_path / "data", {"server.p12": big})
    cli.run("init", check=True)
    cli.run("backup", str(data), check=True)
    pack = _flip_a_byte_in_the_largest_pack(cli.repo)
    assert cli.run("check", "--read-data").returncode != 0
    cli.run("repair", "packs", pack, check=True)
    cli.run("backup", str(data), check=True)
    clean = cli.run("check", "--read-data")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "interrupted backup or a pack repair" in clean.stdout
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    assert (target / str(data).lstrip("/") / "server.p12").read_bytes() == big
