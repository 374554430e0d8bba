"""Every catalogue operation gives the same result through the CLI and the Python API.

Two twin repositories are driven step by step, one by the installed ``keyark`` (with
``--json``) and one by :class:`keyark.Client`, with the same source tree and the same
inputs. After each step the CLI's JSON and the API result's ``to_dict()`` are compared
once the values that must differ are normalised: random ids and keys (hex strings),
times and durations, and each face's own working directory. A CLI verb that prints a
list prints the one list its result holds. The table must name every entry of
``keyark.ops.CATALOGUE`` (a new operation without a comparison fails here).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PASSWORD, keyark_binary

from keyark import Client, ops
from keyark.config import CredentialSpec, RepositoryConfig, RepositorySpec, SecretRef
from keyark.config.loading import load_config_file

#: Keys whose values are clock readings.
VOLATILE = {"duration_seconds", "duration", "seconds", "time", "created", "revoked", "at"}
VOLATILE |= {"total_duration", "backup_start", "backup_end", "seconds_elapsed"}  # restic's
VOLATILE |= {"restore_seconds", "estimated_full_seconds"}  # a drill's timings
#: Random ids and keys.
HEX = re.compile(r"\b[0-9a-f]{8,}\b")
#: Values that depend on the clock (ages, due dates) or are random (a share set's id).
CLOCKED = {"age_days", "next_due", "identifier", "root_created", "root_age_days", "generated"}


def normalise(value: Any, faces: dict[str, str]) -> Any:
    """``value`` with ids, clock readings and face directories replaced by placeholders."""
    if isinstance(value, dict):
        return {
            k: ("<clock>" if k in VOLATILE | CLOCKED else normalise(v, faces))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v, faces) for v in value]
    if isinstance(value, str):
        for directory, name in faces.items():
            value = value.replace(directory, name)
        return TIMESTAMP.sub("<clock>", HEX.sub("<id>", value))
    return value


#: A wall-clock time inside a text (a report's "next rotation due" evidence).
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?")


#: Sizes of encoded objects: tree metadata (access times, which the other face's read of
#: the shared source changed) can make them differ by a few bytes between the twins.
SIZED = re.compile(r"bytes|size|ratio|_added")


def same(cli: Any, api: Any, key: str = "") -> bool:
    """Equal, except that a size may differ by 2% (and 64 bytes) between the twins."""
    if isinstance(cli, dict) and isinstance(api, dict):
        return cli.keys() == api.keys() and all(same(cli[k], api[k], k) for k in cli)
    if isinstance(cli, list) and isinstance(api, list):
        return len(cli) == len(api) and all(same(a, b, key) for a, b in zip(cli, api, strict=True))
    if SIZED.search(key) and isinstance(cli, int | float) and isinstance(api, int | float):
        return abs(cli - api) <= max(64, 0.02 * max(abs(cli), abs(api)))
    return bool(cli == api)


def cli_view(cli: Any, api: dict[str, Any]) -> Any:
    """What of the API result the CLI prints: all of it, its one list, or (a verb whose
    JSON predates the catalogue) the keys it prints, which must all be in the result."""
    if isinstance(cli, list):
        lists = [
            v
            for v in api.values()
            if isinstance(v, list)
            and len(v) == len(cli)
            and all(type(a) is type(b) for a, b in zip(v, cli, strict=True))
        ]
        assert len(lists) == 1, f"no single list in {sorted(api)} for the CLI's list"
        return lists[0]
    if isinstance(cli, dict):
        assert set(cli) <= set(api), sorted(set(cli) - set(api))
        return {key: api[key] for key in cli}
    return api


@dataclass
class Faces:
    """The two twins: the CLI's working directory and repository, and the API's."""

    tmp: Path
    source: Path
    cli_env: dict[str, str]
    client: Client
    #: The exit status of the CLI's last run.
    returncode: int = 0

    def home(self, face: str) -> Path:
        return self.tmp / face

    def cli(self, *args: str, env: dict[str, str] | None = None, code: int | None = 0) -> Any:
        """The CLI's JSON (None: it printed nothing); it must exit ``code`` (None: any,
        kept in ``returncode``)."""
        done = subprocess.run(
            [keyark_binary(), *args, "--json"],
            env={**self.cli_env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        self.returncode = done.returncode
        assert code in (None, done.returncode), (args, done.returncode, done.stderr[-2000:])
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            return None
        try:
            return json.loads(done.stdout)  # one document (possibly indented)
        except json.JSONDecodeError:
            return json.loads(lines[-1])  # status lines, then the result

    def compare(
        self, name: str, cli_args: list[str], options: Any, code: int | None = 0, **env: str
    ) -> Any:
        """Run ``name`` through both faces (the CLI exiting ``code``); assert equal results;
        return the API's."""
        cli = self.cli(*cli_args, env=env, code=code)
        result = self.client.run(name, options)
        api = result.to_dict()
        faces = {str(self.home("cli")): "<face>", str(self.home("api")): "<face>"}
        left, right = normalise(cli, faces), normalise(cli_view(cli, api), faces)
        assert same(left, right), f"{name}: CLI {json.dumps(left)} != API {json.dumps(right)}"
        COMPARED.add(name)
        return result


COMPARED: set[str] = set()
#: Operations this test cannot sensibly run, with the reason (each is tested elsewhere).
NOT_COMPARED: dict[str, str] = {
    "mount": "runs until unmounted and serves a FUSE filesystem (tests/e2e/test_mount.py)",
    "server agent revoke": "needs a host enrolled over TLS (tests/e2e/test_fleet_enrol.py)",
    "server agent register": "the enrol route's step, no CLI verb (tests/e2e/test_fleet_enrol.py)",
}
FACES = ("cli", "api")


@pytest.fixture
def faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Faces:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nk\n")
    (source / "tls" / "server.crt").write_text("certificate")
    (source / ".env").write_text("TOKEN=abc\n")
    for face in ("cli", "api"):
        (tmp_path / face).mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "cli"),
        "KEYARK_REPOSITORY": str(tmp_path / "cli" / "repo"),
        "KEYARK_PASSWORD": PASSWORD,
        "KEYARK_CACHE_DIR": str(tmp_path / "cli" / "cache"),
        "KEYARK_TEST_FAST_KDF": "1",
        "KEYARK_STATE_DIR": str(tmp_path / "cli" / "state"),
    }
    monkeypatch.setenv("KEYARK_TEST_FAST_KDF", "1")
    monkeypatch.setenv("KEYARK_STATE_DIR", str(tmp_path / "api" / "state"))  # its own, too
    client = Client(
        repository=str(tmp_path / "api" / "repo"),
        password=PASSWORD,
        cache_dir=tmp_path / "api" / "cache",
    )
    return Faces(tmp_path, source, env, client)


def _source_repository(tmp: Path, source: Path) -> RepositoryConfig:
    """A third repository, with one snapshot, that both faces copy from."""
    url = str(tmp / "origin")
    origin = Client(repository=url, password=PASSWORD, cache_dir=tmp / "origin-cache")
    origin.run(ops.init, ops.InitOptions(PASSWORD.encode()))
    origin.run(ops.backup, ops.BackupOptions(paths=[str(source)], tags=["origin"]))
    return RepositoryConfig(
        repository=RepositorySpec(url=url),
        credentials=CredentialSpec(passphrase=[SecretRef.of(PASSWORD)]),
    )


def test_every_operation_matches_between_cli_and_api(faces: Faces) -> None:
    f, src = faces, str(faces.source)
    api_home, cli_home = f.home("api"), f.home("cli")
    f.compare("init", ["init"], ops.InitOptions(PASSWORD.encode()))
    f.compare("backup", ["backup", src, "--tag", "t"], ops.BackupOptions(paths=[src], tags=["t"]))
    (f.source / "tls" / "new.key").write_text("rotated key")
    _certificate(f.source / "tls")
    f.compare("backup", ["backup", src], ops.BackupOptions(paths=[src]))
    listed = f.compare("snapshots", ["snapshots"], ops.SnapshotsOptions())
    first_api = listed.snapshots[0].id
    first_cli = f.cli("snapshots")[0]["id"]
    _inventory(f, first_cli, first_api)
    _ls(f)
    f.compare("find", ["find", "*.key"], ops.FindOptions(pattern="*.key"))
    cli_diff = f.cli("diff", first_cli, "latest")
    api_diff = f.client.run("diff", ops.DiffOptions(first_api, "latest")).to_dict()
    home = {str(cli_home): "<face>", str(api_home): "<face>"}
    assert same(normalise(cli_diff, home), normalise(cli_view(cli_diff, api_diff), home))
    COMPARED.add("diff")
    f.compare("stats", ["stats"], ops.StatsOptions())
    f.compare("check", ["check", "--read-data"], ops.CheckOptions(read_data=True))
    _dump(f)
    f.compare(
        "restore",
        ["restore", "latest", "--target", str(cli_home / "out")],
        ops.RestoreOptions(target=str(api_home / "out"), snapshot="latest"),
    )
    f.compare("key list", ["key", "list"], ops.KeyListOptions())
    f.compare("key status", ["key", "status"], ops.KeyStatusOptions())
    f.compare(
        "key add",
        ["key", "add", "--label", "second"],
        ops.KeyAddOptions(passphrase=b"another passphrase", label="second"),
        KEYARK_NEW_PASSWORD="another passphrase",
    )
    _key_remove(f)
    f.compare(
        "key split",
        ["key", "split", "--shares", "3", "--threshold", "2", "--out-dir", str(cli_home / "s")],
        ops.KeySplitOptions(shares=3, threshold=2, out_dir=str(api_home / "s")),
    )
    _key_recover(f)
    f.compare(
        "agent add",
        ["agent", "add", "web1", "--out", str(cli_home / "web1.cred")],
        ops.AgentAddOptions(name="web1", out=str(api_home / "web1.cred")),
    )
    f.compare("agent list", ["agent", "list"], ops.AgentListOptions())
    f.compare("agent revoke", ["agent", "revoke", "web1"], ops.AgentRevokeOptions(name="web1"))
    f.compare("key rotate", ["key", "rotate"], ops.RotateOptions())
    f.compare("repair index", ["repair", "index"], ops.RepairIndexOptions())
    _repair_packs(f)
    f.compare(
        "repair snapshots",
        ["repair", "snapshots", "--dry-run"],
        ops.RepairSnapshotsOptions(dry_run=True),
    )
    f.compare("repair config", ["repair", "config"], ops.RepairStateOptions())
    f.compare("repair keyring", ["repair", "keyring"], ops.RepairStateOptions())
    f.compare(
        "tag",
        ["tag", "latest", "--add", "checked"],
        ops.TagOptions(snapshots=["latest"], add=["checked"]),
    )
    f.compare(
        "rewrite",
        ["rewrite", "latest", "--exclude", ".env", "--forget"],
        ops.RewriteOptions(snapshots=["latest"], exclude=[".env"], forget=True),
    )
    f.compare(
        "forget",
        ["forget", "--keep-last", "1"],
        ops.ForgetOptions(policy=ops.RetentionPolicy(last=1)),
    )
    f.compare("prune", ["prune"], ops.PruneOptions())
    # before ``run`` and ``monitor test-notify``: the API's audit log of the repository
    # has a record of each, the CLI's none (reported; the counts would differ)
    f.compare(
        "compliance report",
        ["compliance", "report", "--config", str(_config(f, "cli"))],
        ops.ComplianceOptions("all", load_config_file(_config(f, "api"))),
        code=None,
    )
    _run_job(f)
    f.compare("unlock", ["unlock"], ops.UnlockOptions())
    f.compare("catalog rebuild", ["catalog", "rebuild"], ops.CatalogRebuildOptions())
    f.compare("debug cat", ["debug", "cat", "config"], ops.DebugCatOptions(kind="config"))
    _copy(f)
    _backend_check(f)
    _audit(f)
    _monitor(f)
    _metrics(f)
    _exchange(f)
    _server_access(f)
    f.compare("drill", ["drill", "--sample", "100%"], ops.DrillOptions(sample=100.0))
    f.compare(
        "erase",
        ["erase", "--path", ".env", "--reason", "leaked token"],
        ops.EraseOptions(paths=[".env"], reason="leaked token"),
    )
    _restore_points(f)
    # Both faces audited the same operations, each in its own repository's log.
    cli_audited = Counter(r["operation"] for r in f.cli("audit", "log"))
    api_log = f.client.run("audit_log", ops.AuditLogOptions()).to_dict()["records"]
    api_audited = Counter(r["operation"] for r in api_log)
    assert +cli_audited == +api_audited, (cli_audited, api_audited)
    f.compare(
        "key passwd",
        ["key", "passwd"],
        ops.KeyPasswdOptions(b"third passphrase"),
        KEYARK_NEW_PASSWORD="third passphrase",
    )
    missing = set(ops.CATALOGUE) - COMPARED - set(NOT_COMPARED)
    assert not missing, f"operations without a CLI/API comparison: {sorted(missing)}"


def _dump(f: Faces) -> None:
    path = str(f.source / "tls" / "server.key")
    done = subprocess.run(
        [keyark_binary(), "dump", "latest", path], env=f.cli_env, capture_output=True, check=True
    )
    stream = io.BytesIO()
    f.client.run("dump", ops.DumpOptions(snapshot="latest", path=path, output=stream))
    assert done.stdout == stream.getvalue() == (f.source / "tls" / "server.key").read_bytes()
    for archive in ("tar", "zip"):  # a directory: the same archive bytes from both faces
        args = ["dump", "latest", str(f.source / "tls"), "--archive", archive]
        done = subprocess.run(
            [keyark_binary(), *args], env=f.cli_env, capture_output=True, check=False
        )
        stream = io.BytesIO()
        options = ops.DumpOptions("latest", str(f.source / "tls"), stream, archive=archive)
        assert f.client.run(ops.dump, options).format == archive
        assert done.returncode == 0 and done.stdout == stream.getvalue() != b"", done.stderr
    COMPARED.add("dump")


def _ls(f: Faces) -> None:
    """``ls --json`` prints restic's lines (snapshot, then nodes): the API's ``json_lines()``."""
    done = subprocess.run(
        [keyark_binary(), "ls", "latest", "--json"],
        env=f.cli_env,
        capture_output=True,
        text=True,
        check=True,
    )
    cli = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    api = f.client.run("ls", ops.LsOptions(snapshot="latest")).json_lines()
    home = {str(f.home("cli")): "<face>", str(f.home("api")): "<face>"}
    assert same(normalise(cli, home), normalise(api, home)), (cli, api)
    COMPARED.add("ls")


def _slot_to_remove(listing: Any) -> str:
    return str(next(k["id"] for k in listing if not k["current"]))


def _key_remove(f: Faces) -> None:
    cli_slot = _slot_to_remove(f.cli("key", "list"))
    api_slot = _slot_to_remove(f.client.run("key list", ops.KeyListOptions()).to_dict()["keys"])
    cli = f.cli("key", "remove", cli_slot)
    api = f.client.run("key remove", ops.KeyRemoveOptions(slot=api_slot)).to_dict()
    assert same(normalise(cli, {}), normalise(cli_view(cli, api), {})), (cli, api)
    COMPARED.add("key remove")


def _key_recover(f: Faces) -> None:
    def shares(face: str) -> list[Path]:
        return sorted((f.home(face) / "s").glob("share-*"))[:2]

    cli_files = [arg for path in shares("cli") for arg in ("--share-file", str(path))]
    cli = f.cli("key", "recover", *cli_files, env={"KEYARK_NEW_PASSWORD": "recovered pw"})
    mnemonics = [ops.read_share_file(str(path)) for path in shares("api")]
    api = f.client.run(
        "key recover", ops.KeyRecoverOptions(shares=mnemonics, new_passphrase=b"recovered pw")
    ).to_dict()
    assert same(normalise(cli, {}), normalise(cli_view(cli, api), {})), (cli, api)
    COMPARED.add("key recover")


def _repair_packs(f: Faces) -> None:
    """Repair one healthy pack of each twin (nothing to salvage: the same report)."""

    def first_pack(face: str) -> str:
        packs = [p for p in (f.home(face) / "repo" / "data").rglob("*") if p.is_file()]
        return max(packs, key=lambda p: p.stat().st_size).name  # the same pack in both twins

    cli = f.cli("repair", "packs", first_pack("cli"))
    options = ops.RepairPacksOptions(packs=[first_pack("api")])
    api = f.client.run("repair packs", options).to_dict()
    assert same(normalise(cli, {}), normalise(cli_view(cli, api), {})), (cli, api)
    COMPARED.add("repair packs")


def _copy(f: Faces) -> None:
    origin = _source_repository(f.tmp, f.source)
    f.compare(
        "copy",
        ["copy", "--from-repo", origin.repository.url, "--all"],
        ops.CopyOptions(source=origin, all_snapshots=True),
        KEYARK_FROM_PASSWORD=PASSWORD,
    )


def _backend_check(f: Faces) -> None:
    cli_url, api_url = f.home("cli") / "probe", f.home("api") / "probe"
    cli = f.cli("backend", "check", str(cli_url), "--many", "20", "--large-mib", "1")
    probe = Client(repository=str(api_url), password=PASSWORD)
    api = probe.run("backend check", ops.BackendCheckOptions(many=20, large_mib=1)).to_dict()
    home: dict[str, str] = {str(cli_url): "<probe>", str(api_url): "<probe>"}
    strip: Callable[[Any], Any] = lambda v: normalise(v, home)  # noqa: E731
    assert same(strip(cli), strip(cli_view(cli, api))), (cli, api)
    COMPARED.add("backend check")


def _config(f: Faces, face: str, **sections: Any) -> Path:
    """``face``'s config file: its repository as ``main``, a job ``nightly`` of the source
    tree, its own state directory, and ``sections``."""
    import yaml

    secret = f.home(face) / "password"
    secret.write_text(PASSWORD)
    main = {"url": str(f.home(face) / "repo"), "password_file": str(secret)}
    document = {
        "version": 1,
        "repositories": {"main": {**main, "cache_dir": str(f.home(face) / "cache")}},
        "jobs": {"nightly": {"repository": "main", "sources": [str(f.source)], "verify": "full"}},
        "scheduler": {"state_dir": str(f.home(face) / "state")},
        **sections,
    }
    path = f.home(face) / "keyark.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _run_job(f: Faces) -> None:
    """``run`` of a config file's job in each twin; ``verify`` (no verb of its own) as the
    CLI's run reports it in its event stream, against the API's call of it."""
    args = ["run", "--config", str(_config(f, "cli")), "nightly", "--json"]
    done = subprocess.run(
        [keyark_binary(), *args], env=f.cli_env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [cli] = json.loads(done.stdout)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    cli_verify = next(
        e["result"] for e in events if e["event"] == "finished" and e["operation"] == "verify"
    )
    options = ops.RunOptions(load_config_file(_config(f, "api")), "nightly")
    api = f.client.run("run", options).to_dict()
    for record in (cli, api):  # this process's id and the wall clock; sizes in the text
        for key in ("pid", "started", "finished"):
            record.pop(key)
        for step in record["steps"]:
            step.pop("detail")
    home = {str(f.home("cli")): "<face>", str(f.home("api")): "<face>"}
    assert same(normalise(cli, home), normalise(api, home)), (cli, api)
    verify = ops.VerifyOptions(snapshot=str(api["snapshot_id"]))
    api_verify = f.client.run("verify", verify).to_dict()
    assert same(normalise(cli_verify, home), normalise(api_verify, home)), (cli_verify, api_verify)
    COMPARED.update({"run", "verify"})


def _audit(f: Faces) -> None:
    """Each face's repository has its own audit log: both verify, with the same backups."""
    keep = ("ok", "writers", "problems")
    cli = f.cli("audit", "verify")
    api = f.client.run("audit_verify", ops.AuditVerifyOptions()).to_dict()
    assert {k: cli[k] for k in keep} == {k: api[k] for k in keep} and api["ok"], (cli, api)
    COMPARED.add("audit_verify")

    def shape(records: list[dict[str, Any]]) -> list[tuple[object, ...]]:
        return [(r["operation"], r["result"], r["error_code"]) for r in records]

    backups = f.client.run("audit_log", ops.AuditLogOptions(operation="backup")).to_dict()
    assert shape(f.cli("audit", "log", "--op", "backup")) == shape(backups["records"])
    COMPARED.add("audit_log")
    done = subprocess.run(
        [keyark_binary(), "audit", "export", "--format", "csv", "--op", "backup"],
        env=f.cli_env,
        capture_output=True,
        text=True,
        check=True,
    )
    exported = f.client.run("audit_export", ops.AuditExportOptions("csv", operation="backup"))
    assert len(done.stdout.splitlines()) == len(exported.text.splitlines()) == exported.count + 1
    COMPARED.add("audit_export")


def _certificate(directory: Path) -> None:
    """A real certificate and its (unencrypted) private key in ``directory``."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from tests.inventory_corpus import NO_ENCRYPTION, PEM, make_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime(2024, 1, 1, tzinfo=UTC)
    certificate = make_certificate(
        "web.example", key.public_key(), key, not_before=start, not_after=start + timedelta(3650)
    )
    (directory / "web.crt").write_bytes(certificate.public_bytes(PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    (directory / "web.key").write_bytes(key.private_bytes(PEM, pkcs8, NO_ENCRYPTION))


def _inventory(f: Faces, first_cli: str, first_api: str) -> None:
    """The inventories the backups recorded, their difference, and one built afterwards
    for a snapshot saved without one."""
    f.compare("inventory", ["inventory", "latest"], ops.InventoryOptions())
    f.compare(
        "inventory_diff",
        ["inventory", "diff", first_cli, "latest"],
        ops.InventoryDiffOptions(first_api, "latest"),
    )
    src = str(f.source)
    f.compare(
        "backup", ["backup", src, "--no-inventory"], ops.BackupOptions(paths=[src], inventory=False)
    )
    cli = f.cli("inventory", "build", "latest")
    api = f.client.run("inventory_build", ops.InventoryBuildOptions(["latest"])).to_dict()
    assert list(cli["built"].values()) == list(api["built"].values()) != [None], (cli, api)
    COMPARED.add("inventory_build")
    built = f.compare("inventory", ["inventory"], ops.InventoryOptions())
    assert built.source == "sidecar" and built.findings, built


def _monitor(f: Faces) -> None:
    """Health checks (those whose outcome does not depend on the machine's load; the
    certificate one warning), the alert that raised, and a test alert to a syslog
    channel on a loopback UDP port that both faces' alerts reach."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(10)
        channel = {
            "type": "syslog",
            "name": "loopback",
            "address": f"udp://127.0.0.1:{listener.getsockname()[1]}",
            "min_level": "critical",
            "retries": 0,
            "timeout": "2s",
        }
        warn = {"thresholds": {"cert_expiry_warning_days": 3650}}  # the certificate warns
        paths = {face: _config(f, face, notifications=[channel], monitor=warn) for face in FACES}
        config = load_config_file(paths["api"])
        checks = ["backup_age", "last_run", "key_age", "locks", "integrity", "certificates"]
        cli_checks = [arg for name in checks for arg in ("--check", name)]
        cli = f.cli("monitor", "check", "--config", str(paths["cli"]), *cli_checks, code=1)
        api = f.client.run("monitor check", ops.MonitorCheckOptions(config, checks)).to_dict()
        assert _alerting(cli) == _alerting(api) and api["alerts"], (cli, api)
        COMPARED.add("monitor check")
        cli_alerts = f.cli("monitor", "alerts", "--config", str(paths["cli"]))
        api_alerts = f.client.run("monitor alerts", ops.MonitorAlertsOptions(config)).to_dict()
        assert _alerting({"alerts": cli_alerts}) == _alerting(api_alerts), (cli_alerts, api_alerts)
        COMPARED.add("monitor alerts")
        f.compare(
            "monitor test-notify",
            ["monitor", "test-notify", "loopback", "--config", str(paths["cli"])],
            ops.TestNotifyOptions(config, "loopback", timeout=10),
        )
        received = [listener.recv(65536) for _ in FACES]
    assert all(b"test alert" in message for message in received), received


def _alerting(report: dict[str, Any]) -> dict[str, Any]:
    """What of a monitor report or alert history does not depend on the clock: each
    check's subject, level and threshold, and each alert but its time and message."""
    results = [
        (r["check"], r["subject"], r["level"], r["threshold"]) for r in report.get("results", [])
    ]
    alerts = [
        {k: v for k, v in a.items() if k not in ("time", "message")} for a in report["alerts"]
    ]
    return {"status": report.get("status"), "results": results, "alerts": alerts}


def _metrics(f: Faces) -> None:
    """The same series from both faces; equal values but the clock readings (``*_seconds``)."""
    cli = f.cli("metrics", "--config", str(_config(f, "cli")))
    api = f.client.run("metrics", ops.MetricsOptions(load_config_file(_config(f, "api"))))
    assert cli["path"] is api.path is None, cli
    left, right = _series(cli["text"]), _series(api.text)
    assert same(left, right) and 'keyark_repository_snapshots{repository="main"}' in left, (
        left,
        right,
    )
    COMPARED.add("metrics")


def _series(exposition: str) -> dict[str, float | str]:
    """Each sample of a Prometheus exposition by series, a clock reading as ``<clock>``."""
    samples: dict[str, float | str] = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = "<clock>" if "_seconds" in series else float(value)
    return samples


def _server_access(f: Faces) -> None:
    """The server's API tokens and dashboard users (each face's own state directory)."""
    from datetime import timedelta

    args = ["server", "token", "create", "--name", "ci", "--role", "operator", "--expires", "90d"]
    cli = f.cli(*args)
    api = f.client.run(
        "server token create", ops.TokenCreateOptions("ci", "operator", timedelta(days=90))
    ).to_dict()
    tokens = cli.pop("token"), api.pop("token")
    assert all(token.startswith("kya_") for token in tokens) and tokens[0] != tokens[1]
    assert normalise(cli, {}) == normalise(api, {}), (cli, api)
    COMPARED.add("server token create")
    f.compare("server token list", ["server", "token", "list"], ops.TokenListOptions())
    f.compare(
        "server token revoke", ["server", "token", "revoke", "ci"], ops.TokenRevokeOptions("ci")
    )
    password = "alice's password"
    f.compare(
        "server user add",
        ["server", "user", "add", "alice", "--role", "auditor"],
        ops.UserAddOptions("alice", "auditor", password),
        KEYARK_NEW_PASSWORD=password,
    )
    f.compare("server user list", ["server", "user", "list"], ops.UserListOptions())
    f.compare(
        "server user passwd",
        ["server", "user", "passwd", "alice"],
        ops.UserPasswdOptions("alice", "another password"),
        KEYARK_NEW_PASSWORD="another password",
    )
    f.compare(
        "server user remove", ["server", "user", "remove", "alice"], ops.UserRemoveOptions("alice")
    )
    cli = f.cli("server", "agent", "enroll-token", "--host", "web-01", "--expires", "2h")
    api = f.client.run(
        "server agent enroll-token", ops.EnrollTokenOptions("web-01", timedelta(hours=2))
    ).to_dict()
    tokens = cli.pop("token"), api.pop("token")
    assert all(token.startswith("kye_") for token in tokens) and tokens[0] != tokens[1]
    assert normalise(cli, {}) == normalise(api, {}), (cli, api)
    COMPARED.add("server agent enroll-token")
    f.compare("server agents", ["server", "agents"], ops.FleetListOptions())


def _exchange(f: Faces) -> None:
    """``export`` (signed), ``export key``, ``export verify`` and ``import`` of a tar.gz."""
    for face in FACES:
        work = f.home(face) / "seed"
        (work / "keys").mkdir(parents=True)
        (work / "keys" / "master.key").write_bytes(b"seed master key")
        with tarfile.open(work / "keys_backup_20240716_142533.tar.gz", "w:gz") as tar:
            tar.add(work / "keys", arcname="keys")
    archive = {face: str(f.home(face) / "export.tar.gz") for face in FACES}
    f.compare(
        "export",
        ["export", "latest", "--output", archive["cli"], "--sign"],
        ops.ExportOptions("latest", archive["api"], sign=True),
    )
    f.compare("export key", ["export", "key"], ops.ExportKeyOptions())
    f.compare(
        "export verify",
        ["export", "verify", archive["cli"]],
        ops.ExportVerifyOptions(archive["api"]),
    )
    seed = {
        face: str(f.home(face) / "seed" / "keys_backup_20240716_142533.tar.gz") for face in FACES
    }
    f.compare(
        "import",
        ["import", seed["cli"], "--time-from-name", "--host", "seed"],
        ops.ImportOptions([seed["api"]], host="seed", time_from_name=True),
    )


def _restore_points(f: Faces) -> None:
    """A restore over the earlier one takes a restore point; list, roll back, forget it."""
    api_out, cli_out = f.home("api") / "out", f.home("cli") / "out"
    f.compare(
        "restore",
        ["restore", "latest", "--target", str(cli_out)],
        ops.RestoreOptions(target=str(api_out), snapshot="latest"),
    )
    f.compare("restore-points list", ["restore-points", "list"], ops.RestorePointsListOptions())
    f.compare(
        "rollback", ["rollback", "--target", str(cli_out)], ops.RollbackOptions(target=str(api_out))
    )
    f.compare(
        "restore-points forget",
        ["restore-points", "forget", "--keep-last", "0"],
        ops.RestorePointsForgetOptions(keep_last=0),
    )
