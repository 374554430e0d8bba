"""An agent backup learns which of its cached packs still exist without listing ``data/``.

Issue 18 §3: every agent backup listed the whole pack prefix (one LIST page per
1,000 packs of the repository, on every backup of every host). Now it asks for the
size of each pack its dedup cache names, and nothing else. Real repository on local
storage; the agent's storage is the local backend with its ``list`` and ``stat``
calls recorded (observed, not changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.agents import add_agent
from keyark.archiver.backup import BackupOptions, backup
from keyark.backends.base import ObjectInfo
from keyark.backends.local import LocalBackend
from keyark.context import OperationContext
from keyark.crypto.agents import AgentCredential
from keyark.crypto.slots import Credentials
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.rotate import reencrypt
from keyark.repo.agent_session import open_for_agent
from keyark.repo.pack import DATA, pack_id_from_name
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore
from keyark.results import BackupSummary

CREDS = Credentials(passphrase=PASSWORD.encode())
#: Packs in the repository that are not the agent's.
OTHER_PACKS = 40


class RecordingBackend(LocalBackend):
    """The local backend, recording the prefixes it lists and the objects it stats."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.listed: list[str] = []
        self.stats: list[str] = []

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self.listed.append(prefix)
        return super().list(prefix)

    def stat(self, name: str) -> ObjectInfo:
        self.stats.append(name)
        return super().stat(name)


def _open(url: str, tmp: Path) -> Repository:
    return ops.open_repository(url, CREDS, cache_dir=tmp / "cache")


def _agent_backup(
    url: str, credential: Path, source: Path, tmp: Path
) -> tuple[BackupSummary, RecordingBackend]:
    storage = RecordingBackend(url)
    agent = open_for_agent(storage, AgentCredential.read(credential))
    try:
        ctx = OperationContext(cache_dir=tmp / "agent-cache")
        summary = backup(agent, replace(BackupOptions(), paths=[str(source)]), ctx)
    finally:
        agent.close()
    assert summary.snapshot_id
    return summary, storage


def _data_packs(url: str) -> set[bytes]:
    found = set()
    for path in Path(url, "data").rglob("*"):
        pack_id = pack_id_from_name(f"data/{path.parent.name}/{path.name}")
        if path.is_file() and pack_id is not None:
            found.add(pack_id)
    return found


def _stat_packs(storage: RecordingBackend) -> set[bytes]:
    return {p for p in map(pack_id_from_name, storage.stats) if p is not None}


def test_an_agent_checks_only_its_own_packs(tmp_path: Path) -> None:
    url = str(tmp_path / "repo")
    ops.init_repository(url, PASSWORD.encode(), pack_size_mib=1).close()
    repo = _open(url, tmp_path)
    credential = tmp_path / "web.cred"
    add_agent(repo, "web", credential, hosts=["web"])
    with repo.lock("backup"):  # packs of other writers: the rest of a fleet's repository
        for number in range(OTHER_PACKS):
            repo.blobs.save_blob(DATA, f"another host's blob {number}\n".encode() * 30)
            repo.blobs.flush()
    repo.close()
    others = _data_packs(url)
    assert len(others) == OTHER_PACKS
    source = tmp_path / "src"
    (source / "private").mkdir(parents=True)
    for number in range(4):
        (source / "private" / f"key{number}.pem").write_bytes(f"key {number}\n".encode() * 300)

    first, storage = _agent_backup(url, credential, source, tmp_path)
    mine = _data_packs(url) - others
    assert mine and first.data_added > 0
    assert not storage.listed or all(not p.startswith("data") for p in storage.listed)
    assert not _stat_packs(storage) & others  # a cold cache names no pack

    (source / "private" / "key0.pem").write_bytes(b"rotated key\n" * 300)
    second, storage = _agent_backup(url, credential, source, tmp_path)
    # Only the packs its cache names are looked up, each once; data/ is never listed.
    assert [p for p in storage.listed if p.startswith("data")] == []
    looked_up = _stat_packs(storage)
    assert looked_up & mine  # control: the packs its cache names were checked
    assert not looked_up & others  # and no other host's (new ones: before their upload)
    assert looked_up <= _data_packs(url)
    assert second.files_unchanged == 3  # the cache still dedups
    mine_now = _data_packs(url) - others

    # Gone packs are forgotten: a re-encryption replaces every pack the agent wrote.
    repo = _open(url, tmp_path)
    reencrypt(repo)
    repo.close()
    assert not mine_now & _data_packs(url)
    third, storage = _agent_backup(url, credential, source, tmp_path)
    assert _stat_packs(storage)  # it asked, and the packs were gone
    assert third.files_unchanged == 0 and third.data_added > 0  # so it stored them again

    repo = _open(url, tmp_path)
    try:
        problems = check(repo, CheckOptions(read_data=True)).problems
        assert all(p.harmless for p in problems), problems  # duplicates: the re-upload
        snapshot = repo.snapshots.load(third.snapshot_id)
        target = tmp_path / "restored"
        restore(repo, snapshot, RestoreOptions(str(target)), OperationContext())
        assert tree_state(target / str(source).lstrip("/")) == tree_state(source)
    finally:
        repo.close()
