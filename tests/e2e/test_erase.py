"""``keyark erase`` through the installed command (issue 15 §3): a leaked ``.env`` backed up
in 5 snapshots is in none afterwards — not listed (``find``, ``ls``), not in any blob of any
pack (decrypted through the repository API) — and ``check --read-data`` passes; a dry run
changes nothing; content shared with a retained file is kept and said so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CLI
from tests.e2e.test_cli import assert_one_line_error
from tests.e2e.test_rewrite_tag import blobs_holding, found, snapshots

SECRET = b"STRIPE_SECRET_KEY=sk_live_erase_me_51HxLEAKEDxKEYx0123456789"


def leaked_backups(cli: CLI, root: Path, count: int = 5) -> Path:
    """``count`` snapshots of a tree with a leaked ``app/.env`` (other files change)."""
    (root / "app").mkdir(parents=True)
    (root / "app" / ".env").write_bytes(SECRET + b"\n")
    (root / "app" / "config.yaml").write_text("port: 8443\n")
    cli.run("init", check=True)
    for number in range(count):
        (root / "notes.txt").write_text(f"backup {number}\n")
        cli.run("backup", str(root), "--tag", f"n{number}", check=True)
    return root


def repository_files(repo: Path) -> dict[str, bytes]:
    """Every file of the repository directory with its content (to see that nothing changes),
    but the audit log's objects (each operation, a dry run too, adds its record)."""
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and p.relative_to(repo).parts[0] != "audit"
    }


def erase(cli: CLI, *args: str) -> dict[str, Any]:
    done = cli.run("erase", *args, "--json", check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_erase_leaked_env_from_five_snapshots(cli: CLI, tmp_path: Path) -> None:
    source = leaked_backups(cli, tmp_path / "src")
    before = snapshots(cli)
    assert len(before) == 5
    env_path = str(source / "app" / ".env")
    # Positive controls: the secret is listed in every snapshot and stored in a pack.
    assert sorted(m["snapshot"] for m in found(cli, ".env")) == sorted(s["id"] for s in before)
    assert len(blobs_holding(cli.repo, SECRET)) == 1

    # The reason is required (one-line usage error, nothing changed).
    missing = cli.run("erase", "--path", ".env")
    assert missing.returncode != 0 and "--reason" in missing.stderr
    assert_one_line_error(cli.run("erase", "--path", " ", "--reason", "x"), 1)

    # Dry run: says what would go, changes no byte of the repository.
    files = repository_files(cli.repo)
    dry = erase(cli, "--path", ".env", "--reason", "GDPR ticket 42", "--dry-run")
    assert dry["dry_run"] and dry["proof"] is None and not dry["verified"]
    assert dry["paths"] == [env_path]
    assert sorted(s["snapshot"] for s in dry["snapshots"]) == sorted(s["id"] for s in before)
    assert dry["planned_blobs"] >= 1 and dry["planned_bytes"] > 0
    assert repository_files(cli.repo) == files
    assert len(found(cli, ".env")) == 5

    done = erase(cli, "--path", ".env", "--reason", "GDPR ticket 42")
    assert done["verified"] and done["catalog_rebuilt"] and done["reason"] == "GDPR ticket 42"
    proof = done["proof"]
    assert proof["still_listed"] == [] and proof["orphaned_blobs"] == []
    assert proof["removed_bytes"] > 0 and proof["snapshots_checked"] == 5
    assert SECRET.decode() not in json.dumps(done)
    after = snapshots(cli)
    assert len(after) == 5 and not {s["id"] for s in after} & {s["id"] for s in before}
    assert sorted(s["replacement"] for s in done["snapshots"]) == sorted(s["id"] for s in after)
    # Gone: find, ls of every snapshot, and every blob of every pack, decrypted.
    assert found(cli, ".env") == []
    for snapshot in after:
        listed = cli.run("ls", snapshot["id"], "--json", check=True).stdout
        assert ".env" not in listed and "config.yaml" in listed
    assert blobs_holding(cli.repo, SECRET) == []
    checked = json.loads(cli.run("check", "--read-data", "--json", check=True).stdout)
    assert checked["ok"]
    # The audit log has the erasure (a success, its paths), never the erased content.
    logged = cli.run("audit", "log", "--op", "erase", "--json", check=True).stdout
    records = [r for r in json.loads(logged) if r["result"] == "success"]
    assert len(records) == 1 and env_path in json.dumps(records[0]["target"]), records
    target = records[0]["target"]  # why, what was rewritten, how much went (never content)
    assert target["reason"] and target["bytes_removed"] > 0 and target["snapshots_rewritten"]
    assert SECRET.decode() not in logged
    # The text form says it was verified; a second erase finds nothing and still verifies.
    again = cli.run("erase", "--path", ".env", "--reason", "GDPR ticket 42", check=True)
    assert "no snapshot lists a matching path" in again.stdout and "verified" in again.stdout


def test_erase_keeps_content_retained_files_share(cli: CLI, tmp_path: Path) -> None:
    """The same bytes in a file that stays: its blob stays, and the report names the user."""
    source = leaked_backups(cli, tmp_path / "src", count=2)
    (source / "app" / "copy.txt").write_bytes(SECRET + b"\n")  # same content, kept
    cli.run("backup", str(source), check=True)
    done = erase(cli, "--path", "/**/app/.env", "--reason", "leak")
    assert done["verified"]
    [retained] = done["proof"]["retained_blobs"]
    assert retained["path"] == str(source / "app" / "copy.txt")
    assert len(blobs_holding(cli.repo, SECRET)) == 1
    assert found(cli, ".env") == []


def test_erase_only_named_snapshots_reports_the_others(cli: CLI, tmp_path: Path) -> None:
    """--snapshot limits the rewrite; the proof then says which snapshots still list it
    (not verified: exit non-zero)."""
    leaked_backups(cli, tmp_path / "src", count=2)
    first, second = snapshots(cli)
    result = cli.run(
        "erase", "--path", ".env", "--snapshot", first["id"], "--reason", "one", "--json"
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert not document["verified"]
    assert [item["snapshot"] for item in document["snapshots"]] == [first["id"]]
    assert [s["snapshot"] for s in document["proof"]["still_listed"]] == [second["id"]]
    assert "could not be verified" in result.stderr
    logged = json.loads(cli.run("audit", "log", "--op", "erase", "--json", check=True).stdout)
    assert {r["error_code"] for r in logged if r["result"] == "failure"} == {"erasure_unverified"}
