"""Issue 8, section 4: ``key rotate --root`` locks out a removed slot (design D5).

The attacker is a departed administrator: they kept a copy of their key slot file
(and the old keyring object) and know their old passphrase. After ``key remove`` and
``key rotate --root --reencrypt`` they put the files back into storage and try to
read. Positive controls show the same replay works when no root rotation ran, so
the tests can fail. HSM and recovery slots keep working without new shares, and a
crash at any step of the rotation leaves every slot able to open a consistent
keyring.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tests.hsm as softhsm_support
from tests.conftest import CLI, PASSWORD, make_tree, tree_state
from tests.hsm import AES_KEY, SoftHSM

from keyark import keys
from keyark.backends.local import LocalBackend
from keyark.crypto import kdf, keyfile, slots
from keyark.crypto.envelope import ObjectKind, Sealer, SymmetricKey, envelope_key_id
from keyark.crypto.keyring import Keyring
from keyark.errors import BackendError, IntegrityError, WrongPasswordError
from keyark.maintenance.root_rotation import rotate_root
from keyark.repo import key_store
from keyark.repo.repository import Repository
from keyark.testing.faults import FaultInjectingBackend

softhsm = softhsm_support.softhsm  # the session fixture

OLD = "the departed admin's passphrase"


def _slot_root(slot_bytes: bytes, slot_id: str, passphrase: str) -> SymmetricKey:
    """What the attacker computes offline from a saved slot file and its passphrase."""
    slot = slots.KeySlot.from_bytes(slot_id, slot_bytes)
    kek = kdf.derive(passphrase.encode(), slots.passphrase_params(slot))
    return slots.unwrap_root_key(slot, kek)


def test_old_slot_file_opens_nothing_after_root_rotation(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", "--pack-size", "1", check=True)
    before_source = make_tree(tmp_path / "before")
    cli.run("backup", str(before_source), check=True)
    added = json.loads(
        cli.run("key", "add", "--json", env={"KEYARK_NEW_PASSWORD": OLD}, check=True).stdout
    )
    slot_id = str(added["id"])
    slot_path = cli.repo / "keys" / slot_id
    saved_slot = slot_path.read_bytes()
    saved_keyring = (cli.repo / "keyring").read_bytes()
    attacker = {"KEYARK_PASSWORD": OLD, "KEYARK_CACHE_DIR": str(tmp_path / "attacker-cache")}

    # Positive control: without a root rotation, the saved slot file put back opens
    # the repository again after 'key remove' (and even after a plain --reencrypt).
    cli.run("key", "remove", slot_id[:8], check=True)
    cli.run("key", "rotate", "--reencrypt", check=True)
    slot_path.write_bytes(saved_slot)
    control = cli.run("snapshots", "--json", env=attacker)
    assert control.returncode == 0, control.stderr
    assert len(json.loads(control.stdout)) == 1

    cli.run("key", "remove", slot_id[:8], check=True)
    rotated = json.loads(
        cli.run("key", "rotate", "--root", "--reencrypt", "--json", check=True).stdout.splitlines()[
            0
        ]
    )
    assert rotated["message_type"] == "root_rotated" and rotated["slots_rewrapped"]
    after_source = make_tree(tmp_path / "after")
    (after_source / "new-secret.env").write_text("TOKEN=written after the rotation\n")
    cli.run("backup", str(after_source), check=True)

    # The attack: the saved slot file back in storage, the old passphrase.
    slot_path.write_bytes(saved_slot)
    attempt = cli.run("snapshots", "--json", env=attacker)
    assert attempt.returncode == 12, (attempt.stdout, attempt.stderr)
    # One error line (--json also streams the operation's events on stderr: not errors).
    lines = [line for line in attempt.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "event" not in json.loads(line)]
    assert len(errors) == 1 and "outdated keyring key" in errors[0], attempt.stderr

    # With the old keyring object restored too, nothing opens for them either...
    current_keyring = (cli.repo / "keyring").read_bytes()
    (cli.repo / "keyring").write_bytes(saved_keyring)
    attempt = cli.run("snapshots", "--json", env=attacker)
    assert attempt.returncode != 0 and "Traceback" not in attempt.stderr
    # ... and offline, the old KR opens the old keyring, whose data keys open nothing
    # that is stored now (every object was re-encrypted or written after the rotation).
    old_root = _slot_root(saved_slot, slot_id, OLD)
    old_keyring = Keyring.open(old_root, saved_keyring)
    old_keys = {dk.key_id: dk.key for dk in old_keyring.data_keys.values()}
    backend = LocalBackend(cli.repo)
    opened_by_old = 0
    for prefix, kind in (("snapshots/", ObjectKind.SNAPSHOT), ("index/", ObjectKind.INDEX)):
        for info in backend.list(prefix):
            data = backend.get(info.name)
            assert envelope_key_id(data) not in old_keys, info.name
            name = info.name.split("/")[-1].encode() if kind is ObjectKind.SNAPSHOT else b""
            for key in old_keys.values():
                try:
                    Sealer(key).open(kind, name, data)
                    opened_by_old += 1
                except IntegrityError:
                    pass
    assert opened_by_old == 0
    with pytest.raises(IntegrityError):
        Keyring.open(old_root, current_keyring)

    # Nothing genuine is lost: the owner's passphrase reads both snapshots.
    (cli.repo / "keyring").write_bytes(current_keyring)
    slot_path.unlink()
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert len(snaps) == 2
    for snap, source in zip(snaps, (before_source, after_source), strict=True):
        target = tmp_path / f"out-{snap['short_id']}"
        cli.run("restore", snap["id"], "--target", str(target), "--verify", check=True)
        assert tree_state(target / source.relative_to("/")) == tree_state(source)
    cli.run("check", "--read-data", check=True)


def test_hsm_and_recovery_slots_survive_root_rotation(
    cli: CLI, tmp_path: Path, softhsm: SoftHSM
) -> None:
    cli.env.update(softhsm.env())
    cli.run("init", check=True)
    hsm = ["--pkcs11-module", softhsm.module, "--pkcs11-token", softhsm.token]
    cli.run("key", "add", *hsm, "--pkcs11-key", AES_KEY, check=True)
    shares_dir = tmp_path / "shares"
    cli.run("key", "split", "--shares", "3", "--threshold", "2", "--out-dir", str(shares_dir))
    assert len(list(shares_dir.iterdir())) == 3
    rotated = json.loads(cli.run("key", "rotate", "--root", "--json", check=True).stdout)
    assert len(rotated["slots_rewrapped"]) == 3 and not rotated["slots_skipped"]

    saved = cli.env.pop("KEYARK_PASSWORD")
    try:
        by_hsm = cli.run("key", "list", "--json", "--pkcs11-module", softhsm.module)
        assert by_hsm.returncode == 0, by_hsm.stderr
        assert [k["kind"] for k in json.loads(by_hsm.stdout) if k["current"]] == ["pkcs11"]
        share_files = sorted(shares_dir.iterdir())[:2]
        recovered = cli.run(
            "key",
            "recover",
            *(arg for path in share_files for arg in ("--share-file", str(path))),
            env={"KEYARK_NEW_PASSWORD": "recovered after rotation"},
        )
        assert recovered.returncode == 0, recovered.stderr
    finally:
        cli.env["KEYARK_PASSWORD"] = saved
    listed = json.loads(
        cli.run("key", "list", "--json", env={"KEYARK_PASSWORD": "recovered after rotation"}).stdout
    )
    assert sorted(k["kind"] for k in listed) == ["passphrase", "passphrase", "pkcs11", "recovery"]
    # Host and label are sealed under the new KR and still shown to a full-key holder.
    assert all(k["host"] for k in listed)


def _template(tmp_path: Path) -> tuple[Path, Path, SymmetricKey]:
    """A repository with two passphrase slots and a key-file slot, one snapshot object."""
    path = tmp_path / "template"
    repo = Repository.init(LocalBackend(path), PASSWORD.encode())
    keys.add_passphrase(repo, b"second passphrase", label="second")
    key_file = tmp_path / "slot.key"
    keys.add_key_file(repo, key_file)
    repo.snapshots.store_bytes(b"a snapshot document")
    root = repo.keys.root_key
    assert root is not None
    repo.close()
    return path, key_file, root


def _credentials(key_file: Path) -> list[slots.Credentials]:
    secret = keyfile.load_key_file(key_file)
    return [
        slots.Credentials(passphrase=PASSWORD.encode()),
        slots.Credentials(passphrase=b"second passphrase"),
        slots.Credentials(unlockers={keyfile.KEYFILE: keyfile.unlocker(secret)}),
    ]


def _open_all(path: Path, key_file: Path) -> set[bytes]:
    """Open with every credential; all must reach the same keyring. Return its data key ids."""
    seen: set[tuple[bytes, ...]] = set()
    for credentials in _credentials(key_file):
        with Repository.open(LocalBackend(path), credentials) as repo:
            seen.add(tuple(sorted(repo.keys.keyring.data_keys)))
            (snapshot_id,) = repo.snapshots.ids()
            assert repo.snapshots.load_bytes(snapshot_id)[0] == b"a snapshot document"
    assert len(seen) == 1, "slots opened different keyrings"
    return set(next(iter(seen)))


def test_crash_at_every_step_of_a_root_rotation(tmp_path: Path) -> None:
    template, key_file, old_root = _template(tmp_path)
    before = _open_all(template, key_file)
    crashes = resumes = 0
    for step in range(200):
        path = tmp_path / f"run-{step}"
        shutil.copytree(template, path)
        faulty = FaultInjectingBackend(LocalBackend(path), transient_rate=0.0)
        repo = Repository.open(faulty, _credentials(key_file)[0])
        faulty.permanent_after = faulty._calls + step  # the rotation's operations count
        try:
            rotate_root(repo)
        except BackendError:
            crashes += 1
        else:
            break
        finally:
            faulty.permanent_after = None
        # After the crash every slot opens one consistent keyring (old or new)...
        opened = _open_all(path, key_file)
        assert opened == before or len(opened) == len(before) + 1
        # ... and running the rotation again (after 'keyark unlock') finishes it: it
        # resumes a committed one, starts afresh after an uncommitted one.
        pending = key_store.pending_exists(LocalBackend(path))
        for lock in (path / "locks").glob("*"):
            lock.unlink()
        with Repository.open(LocalBackend(path), _credentials(key_file)[1]) as again:
            resumed = rotate_root(again).resumed
        assert not key_store.pending_exists(LocalBackend(path))
        after = _open_all(path, key_file)
        if resumed:
            resumes += 1
            assert pending and after == opened != before
        else:
            assert len(after) == len(opened) + 1
        with pytest.raises(IntegrityError):
            Keyring.open(old_root, (path / "keyring").read_bytes())
    else:
        raise AssertionError("the rotation never completed")
    assert crashes > 10  # every step of the rotation was a crash point once
    assert resumes >= 3  # crashes after the commit point were resumed, not restarted
    assert len(_open_all(path, key_file)) == len(before) + 1


def test_planted_slot_never_receives_the_new_root_key(tmp_path: Path) -> None:
    """A storage writer plants a slot with its own key pair; rotation must skip it."""
    path = tmp_path / "repo"
    Repository.init(LocalBackend(path), PASSWORD.encode()).close()
    fake_root = SymmetricKey(b"\0" * 8, b"\1" * 32)
    planted = slots.passphrase_slot(fake_root, b"attacker")
    LocalBackend(path).put(planted.name, planted.to_bytes())
    # Positive control: the planted slot is well-formed and opens with its passphrase
    # (to the attacker's own key), so only the authenticity check keeps KR' from it.
    assert slots.unwrap_root_key(
        planted, kdf.derive(b"attacker", slots.passphrase_params(planted))
    ) == (fake_root)
    with Repository.open(LocalBackend(path), slots.Credentials(passphrase=PASSWORD.encode())) as r:
        summary = rotate_root(r)
    assert summary.slots_skipped == [planted.slot_id] and len(summary.slots_rewrapped) == 1
    with pytest.raises(WrongPasswordError):
        Repository.open(LocalBackend(path), slots.Credentials(passphrase=b"attacker"))
    Repository.open(LocalBackend(path), slots.Credentials(passphrase=PASSWORD.encode())).close()
