"""Write-only backup agents, end to end through the installed command."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree, tree_state
from tests.e2e.agent_cli import agent_env, run_as_agent
from tests.json_lines import last_json

from keyark import ops
from keyark.backends.local import LocalBackend
from keyark.crypto.agents import AgentCredential
from keyark.crypto.envelope import Cipher, ObjectKind, Sealer, SymmetricKey, envelope_key_id
from keyark.crypto.recipients import Recipient, unwrap
from keyark.crypto.slots import Credentials
from keyark.errors import IntegrityError
from keyark.repo.agent_session import open_for_agent
from keyark.repo.config import derive_subkey
from keyark.repo.pack import BLOB_KINDS, header_span, parse_header


def test_credential_holds_no_read_key(cli: CLI, agent: Path) -> None:
    assert stat.S_IMODE(agent.stat().st_mode) == 0o600
    document = json.loads(agent.read_text())
    assert set(document) == {
        "type",
        "version",
        "repository_id",
        "agent",
        "id_key",
        "recipient",
        "signing_key",
        "config_public_key",
        "hosts",
    }
    assert document["version"] == 2 and document["hosts"] == ["web1"]
    with ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode())) as repo:
        secrets = [dk.key.secret.hex() for dk in repo.keys.keyring.data_keys.values()]
        assert repo.keys.root_key is not None
        secrets.append(repo.keys.root_key.secret.hex())
        secrets.append(repo.keys.keyring.extra["recipient"]["private"].hex())
    assert not any(secret in agent.read_text() for secret in secrets)
    listed = json.loads(cli.run("agent", "list", "--json", check=True).stdout)
    assert [a["name"] for a in listed] == ["web1"] and listed[0]["revoked"] is None
    assert listed[0]["hosts"] == ["web1"]
    # Several hosts; shown by 'agent list'; a name is never re-used.
    cli.run(
        "agent",
        "add",
        "db",
        "--host",
        "db1",
        "--host",
        "db2",
        "--out",
        str(agent) + "2",
        check=True,
    )
    assert "db1,db2" in cli.run("agent", "list", check=True).stdout
    again = cli.run("agent", "add", "db", "--out", str(agent) + "3")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_agent_backup_is_write_only(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    first = run_as_agent(cli, agent, "backup", str(source), "--json")
    assert first.returncode == 0, first.stderr
    second = last_json(run_as_agent(cli, agent, "backup", str(source), "--json").stdout)
    assert second["data_blobs"] == 0 and second["files_unchanged"] == 6  # own cache dedups
    for verb in (
        ["snapshots"],
        ["ls", "latest"],
        ["restore", "latest", "--target", "x"],
        ["dump", "latest", "/x"],
        ["check", "--read-data"],
    ):
        result = run_as_agent(cli, agent, *verb)
        assert result.returncode == 1 and "can only write" in result.stderr, verb
        assert "Traceback" not in result.stderr
    # A full key sees the agent's snapshots, restores them, and check passes.
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert [s["agent"] for s in snaps] == ["web1", "web1"]
    assert all(s["trust"] == "signed" for s in snaps)
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), "--verify", check=True)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    assert cli.run("check", "--read-data", check=True).returncode == 0


def _open_everything(
    backend: LocalBackend, secrets: list[bytes], recipient: Recipient
) -> dict[str, bool]:
    """Try to open every sealed object the way keyark does: with the key its envelope
    names (its own key id and cipher), its own object kind and its own name, trying each
    of ``secrets`` as that key (and as the recipient private key for session keys, whose
    unwrapped secrets then join the candidates). Returns {object name: opened}."""
    secrets = list(secrets)
    opened: dict[str, bool] = {}
    names = sorted(info.name for info in backend.list(""))
    for name in [n for n in names if n.startswith("keys/sessions/")]:
        key_id = bytes.fromhex(name.rsplit("/", 1)[-1])
        wrapped = backend.get(name)
        opened[name] = False
        for secret in list(secrets):
            try:
                key = unwrap(Recipient(recipient.kind, recipient.public, secret), key_id, wrapped)
            except (IntegrityError, ValueError, TypeError):
                continue
            secrets.append(key)
            opened[name] = True
            break

    def open_with_any(envelope: bytes, kind: ObjectKind, name: bytes) -> Sealer | None:
        key_id, cipher = envelope_key_id(envelope), Cipher(envelope[3])
        for secret in secrets:
            sealer = Sealer(SymmetricKey(key_id, secret, cipher))
            try:
                sealer.open(kind, name, envelope)
            except IntegrityError:
                continue
            return sealer
        return None

    for name in names:
        data = backend.get(name)
        if name == "keyring":
            opened[name] = open_with_any(data, ObjectKind.KEYRING, b"keyring") is not None
        elif name.startswith("index/"):
            opened[name] = open_with_any(data, ObjectKind.INDEX, b"") is not None
        elif name.startswith("snapshots/"):
            snapshot_id = name.split("/", 1)[1].encode()
            opened[name] = open_with_any(data, ObjectKind.SNAPSHOT, snapshot_id) is not None
        elif name.startswith("data/"):
            offset, length = header_span(len(data), data[-4:])
            header = data[offset : offset + length]
            sealer = open_with_any(header, ObjectKind.PACK_HEADER, b"")
            if sealer is None:
                opened[name] = False
                continue
            entries = parse_header(sealer, header)
            for entry in entries:  # every blob, with its own kind and id
                blob = data[entry.offset : entry.offset + entry.length]
                sealer.open_bare(BLOB_KINDS[entry.kind], entry.blob_id, blob)
            opened[name] = bool(entries)
    return opened


def test_credential_decrypts_nothing(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    cli.run("backup", str(source), check=True)  # full-key objects too
    assert run_as_agent(cli, agent, "backup", str(source), "--tag", "agent").returncode == 0
    credential = AgentCredential.read(agent)
    backend = LocalBackend(cli.repo)
    # Every secret the credential holds or derives, tried on every sealed object.
    held = [
        credential.id_key,
        credential.signing_key,
        credential.config_public,
        credential.recipient.public[:32],
    ]
    held += [derive_subkey(credential.id_key, p).secret for p in ("keyark config", "keyark locks")]
    with_credential = _open_everything(backend, held, credential.recipient)
    kinds = {name.split("/")[0] for name in with_credential}
    assert {"keyring", "index", "snapshots", "data", "keys"} <= kinds
    assert not any(with_credential.values()), [n for n, ok in with_credential.items() if ok]
    # Positive control: the same procedure with the real KR, data keys and recipient
    # private key opens every one of those objects (so the check above can fail).
    creds = Credentials(passphrase=PASSWORD.encode())
    with ops.open_repository(str(cli.repo), creds, cache_dir=cli.cache) as repo:
        assert repo.keys.root_key is not None
        real = [repo.keys.root_key.secret] + [
            dk.key.secret for dk in repo.keys.keyring.data_keys.values()
        ]
        real.append(bytes(repo.keys.keyring.extra["recipient"]["private"]))
    with_real_keys = _open_everything(backend, real, credential.recipient)
    assert with_real_keys.keys() == with_credential.keys()
    assert all(with_real_keys.values()), [n for n, ok in with_real_keys.items() if not ok]
    # The agent's own session (through the API) cannot read its own snapshot back: the
    # write-only repository type has no read path at all.
    writer = open_for_agent(backend, credential)
    assert list(backend.list("snapshots/"))
    for reader in ("snapshot_ids", "load_snapshot", "load_blob", "load_tree", "load_index"):
        assert not hasattr(writer, reader), reader
    writer.close()


def test_forged_and_revoked_snapshots_are_flagged(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    assert run_as_agent(cli, agent, "backup", str(source)).returncode == 0
    # A forger with the public parts but another signing key.
    forged = json.loads(agent.read_text())
    forged["signing_key"] = os.urandom(32).hex()
    forged_path = tmp_path / "forged.cred"
    forged_path.write_text(json.dumps(forged))
    os.chmod(forged_path, 0o600)
    assert run_as_agent(cli, forged_path, "backup", str(source), "--tag", "forged").returncode == 0
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    trust = {s["id"]: s["trust"] for s in snaps}
    forged_id = next(s["id"] for s in snaps if s["tags"] == ["forged"])
    assert trust[forged_id] == "bad-signature"
    assert "FLAGGED" in cli.run("snapshots", check=True).stdout
    refused = cli.run("restore", forged_id, "--target", str(tmp_path / "o1"))
    assert refused.returncode == 1 and "--allow-unsigned" in refused.stderr
    assert not (tmp_path / "o1").exists()
    cli.run("restore", forged_id, "--target", str(tmp_path / "o2"), "--allow-unsigned", check=True)
    checked = cli.run("check")
    assert checked.returncode == 1 and forged_id[:8] in checked.stdout
    # Revocation flags what the agent writes afterwards.
    cli.run("agent", "revoke", "web1", check=True)
    assert run_as_agent(cli, agent, "backup", str(source), "--tag", "after").returncode == 0
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    after = next(s for s in snaps if s["tags"] == ["after"])
    before = next(s for s in snaps if s["tags"] == [])
    assert after["trust"] == "revoked-agent" and before["trust"] == "signed"


def test_agent_bad_input(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    # Another repository.
    other = tmp_path / "other"
    cli.run("init", env={"KEYARK_REPOSITORY": str(other)}, check=True)
    env = agent_env(cli, agent)
    env["KEYARK_REPOSITORY"] = str(other)
    result = subprocess.run(
        [keyark_binary(), "backup", str(source)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "another repository" in result.stderr
    assert not (other / "snapshots").exists() or not list((other / "snapshots").iterdir())
    # A credential readable by others is refused.
    loose = tmp_path / "loose.cred"
    shutil.copy(agent, loose)
    os.chmod(loose, 0o644)
    result = run_as_agent(cli, loose, "backup", str(source))
    assert result.returncode == 1 and "readable by others" in result.stderr
    # A tampered session key object: full-key readers get a clear error.
    assert run_as_agent(cli, agent, "backup", str(source)).returncode == 0
    [session] = list((cli.repo / "keys" / "sessions").iterdir())
    data = bytearray(session.read_bytes())
    data[-3] ^= 1
    session.write_bytes(bytes(data))
    listed = cli.run("snapshots")
    assert "session key" in listed.stderr and "Traceback" not in listed.stderr
    checked = cli.run("check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr


def test_lost_agent_cache_costs_only_dedup(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    assert run_as_agent(cli, agent, "backup", str(source)).returncode == 0
    shutil.rmtree(cli.cache)
    again = last_json(run_as_agent(cli, agent, "backup", str(source), "--json").stdout)
    assert again["files_new"] == 6  # everything re-read and re-uploaded
    cli.run("check", "--read-data", check=True)
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), "--verify", check=True)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
