"""Every parser survives hostile bytes (issue 8 section 6).

Seeds are REAL objects written by a real repository (a tree, snapshots full-key and
agent-signed, an index file, a pack header, a lock, a key slot, the keyring, the config,
an agent credential). A structure-aware mutator decodes each seed to its msgpack/JSON
structure, replaces values with values of other types (bytes, str, int, negative, huge,
float, NaN, None, nested lists and maps), drops and adds keys and list items, re-encodes,
and sometimes truncates or flips a byte. Each result goes to the plaintext parser, and for
trees, snapshots, index files, pack headers, locks and the config it is also *sealed
validly* (as a holder of the id key or a session key can) and pushed through the
repository's read path. The only exceptions allowed out are keyark's own.

Reproducible and bounded: hypothesis with ``derandomize=True``, no example database and a
fixed number of examples per parser; the module runs well under a minute.
``KEYARK_FUZZ_SCALE=20`` multiplies the budgets for a longer local hunt.
The positive control shows the harness catches an unvalidated toy parser.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import PASSWORD, make_tree

from keyark import ops
from keyark.agents import add_agent, open_agent_repository
from keyark.archiver.backup import BackupOptions, backup
from keyark.context import OperationContext
from keyark.crypto.agent_registry import accepted_of, agents_of, hosts_of, recipient_of
from keyark.crypto.agents import AgentCredential, wrap_signed
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.keyring import Keyring
from keyark.crypto.recipients import unwrap
from keyark.crypto.slots import Credentials, KeySlot
from keyark.errors import KeyarkError
from keyark.repo.config import CONFIG_NAME, SIGNATURE_CONTEXT, RepoConfig, canonical_json
from keyark.repo.fields import unpack_msgpack
from keyark.repo.index import BlobLocation, decode_index
from keyark.repo.locks import LOCK_PREFIX, LockInfo, lock_sealer, read_locks
from keyark.repo.pack import TRAILER_SIZE, TREE, PackEntry, header_span, pack_name, parse_header
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, decode_tree

INT64 = (-(2**63), 2**64 - 1)
#: Multiplies every example budget (e.g. 20 for a long local hunt); CI keeps 1.
SCALE = float(os.environ.get("KEYARK_FUZZ_SCALE", "1"))


# --------------------------------------------------------------------------- mutator
@functools.cache
def hostile_values(binary: bool) -> st.SearchStrategy[Any]:
    """Values of every type and awkward range; ``binary`` for msgpack (bytes, 64-bit ints)."""
    edge_ints = [-1, 0, 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]
    ints = st.sampled_from(edge_ints) | st.integers(*INT64)
    if not binary:
        ints = ints | st.sampled_from([2**64, -(2**64) - 1, 10**40])
    texts = st.text(max_size=12) | st.sampled_from(
        ["", ".", "..", "a/b", "\0", "\x1b[8m", "ff" * 32, "zz", "x" * 300]
    )
    scalars: st.SearchStrategy[Any] = (
        st.none() | st.booleans() | ints | st.floats(allow_nan=True, allow_infinity=True) | texts
    )
    keys: st.SearchStrategy[Any] = st.text(max_size=6)
    if binary:
        blobs = st.binary(max_size=40) | st.sampled_from([b"", b"\0" * 32, b"..", b"a/b", b"\xff"])
        scalars = scalars | blobs
        keys = keys | st.integers(-5, 5) | st.binary(max_size=4)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=6,
    )


def paths_of(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a decoded document (the root is ``()``)."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from paths_of(value, (*prefix, index))


def container_at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


OPERATIONS = st.sampled_from(["replace", "drop", "add", "duplicate"])
NEW_KEYS = st.text(max_size=4)


def mutate_once(data: st.DataObject, document: Any, binary: bool) -> Any:
    """One structural mutation at a drawn position; returns the (new) document."""
    paths = list(paths_of(document))[:400]
    path = data.draw(st.sampled_from(paths[1:] or paths), label="path")
    operation = data.draw(OPERATIONS, label="op")
    value = data.draw(hostile_values(binary), label="value")
    if not path:
        return value
    parent, key = container_at(document, path[:-1]), path[-1]
    if operation == "replace":
        parent[key] = value
    elif operation == "drop":
        del parent[key]
    elif operation == "add" and isinstance(parent, dict):
        parent[data.draw(NEW_KEYS, label="new key")] = value
    elif operation == "add":
        parent.insert(key, value)
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = [parent[key], parent[key]]
    return document


@dataclass(frozen=True)
class Codec:
    """How a seed is decoded to a structure and the mutated structure re-encoded."""

    binary: bool

    def decode(self, raw: bytes) -> Any:
        if self.binary:
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        return json.loads(raw)

    def encode(self, document: Any) -> bytes:
        if self.binary:
            return bytes(msgpack.packb(document, use_bin_type=True))
        return json.dumps(document).encode()


MSGPACK = Codec(binary=True)
JSON = Codec(binary=False)


def hostile_payloads(seed: bytes, codec: Codec) -> st.SearchStrategy[bytes]:
    """Mutations of ``seed``: 1-3 structural edits, then sometimes a truncation or bit flip."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = draw(st.data())
        document = copy.deepcopy(codec.decode(seed))
        for _ in range(draw(st.integers(1, 3), label="edits")):
            document = mutate_once(data, document, codec.binary)
        payload = codec.encode(document)
        damage = draw(st.sampled_from(["none", "none", "none", "truncate", "flip"]), label="bytes")
        if damage != "none" and payload:
            at = draw(st.integers(0, len(payload) - 1), label="at")
            if damage == "truncate":
                payload = payload[:at]
            else:
                payload = payload[:at] + bytes([payload[at] ^ 0x41]) + payload[at + 1 :]
        return payload

    return build()


class NonKeyarkError(AssertionError):
    """A parser let an exception other than keyark's own escape."""


def fuzz(
    label: str, parse: Callable[[bytes], object], seed: bytes, codec: Codec, examples: int
) -> None:
    """Feed ``examples`` mutations of ``seed`` to ``parse``; fail on any non-keyark exception.

    The seed itself must parse (so the parser is really reached).
    """
    parse(seed)

    @settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(hostile_payloads(seed, codec))
    def run(payload: bytes) -> None:
        try:
            parse(payload)
        except KeyarkError:
            pass
        except Exception as error:
            raise NonKeyarkError(
                f"{label}: {type(error).__name__}: {str(error)[:200]} on {payload[:300]!r}"
            ) from error

    run()


# --------------------------------------------------------------------------- real objects
@dataclass
class Corpus:
    """Real objects from one real repository, and that repository (full-key session)."""

    repo: Repository
    agent_credential: AgentCredential
    tree: bytes
    snapshot: bytes
    snapshot_id: str
    snapshot_key_id: bytes
    agent_snapshot: bytes
    agent_snapshot_body: bytes
    index: bytes
    pack_header: bytes
    lock: bytes
    slot: bytes
    slot_id: str
    keyring: bytes
    config: bytes
    credential: bytes
    session: bytes
    session_key_id: bytes


def _richest_tree(repo: Repository, root: bytes) -> bytes:
    """The raw tree blob with the most entry types (files, dirs, symlink)."""
    best, best_score, stack = b"", -1, [root]
    while stack:
        tree_id = stack.pop()
        raw = repo.blobs.load_blob(tree_id)
        nodes = decode_tree(raw)
        score = len({node.type for node in nodes}) * 100 + len(nodes)
        if score > best_score:
            best, best_score = raw, score
        stack.extend(n.subtree for n in nodes if n.type == DIR and n.subtree is not None)
    return best


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    base = tmp_path_factory.mktemp("fuzz")
    url = str(base / "repo")
    ops.init_repository(url, PASSWORD.encode(), pack_size_mib=1).close()
    repo = ops.open_repository(url, Credentials(passphrase=PASSWORD.encode()))
    source = make_tree(base / "src")
    try:
        os.setxattr(source / "empty", "user.note", b"hello")
    except OSError:
        pass  # no user xattrs on this filesystem: the tree seed simply has none
    ctx = OperationContext(cache_dir=base / "cache")
    summary = backup(repo, BackupOptions(paths=[str(source)]), ctx)
    snapshot = repo.snapshots.load(summary.snapshot_id)
    repo.blobs.load_index()

    add_agent(repo, "web1", base / "web1.cred")
    repo.close()
    repo = ops.open_repository(url, Credentials(passphrase=PASSWORD.encode()))
    repo.blobs.load_index()
    agent_repo = open_agent_repository(url, base / "web1.cred")
    agent_summary = backup(agent_repo, BackupOptions(paths=[str(source)]), ctx)
    agent_repo.close()
    agent_raw, _ = repo.snapshots.load_bytes(agent_summary.snapshot_id)
    agent_body = msgpack.unpackb(agent_raw, raw=False)["signed"]

    index_name = next(info.name for info in repo.backend.list("index/"))
    index_plain = repo.keys.open_object(ObjectKind.INDEX, b"", repo.backend.get(index_name))
    pack_id = next(iter(repo.blobs.index.packs()))
    sealed_header = _sealed_header(repo, pack_id)
    header_plain = repo.blobs.current_sealer().open(ObjectKind.PACK_HEADER, b"", sealed_header)
    with repo.lock("backup") as held:
        lock_plain = lock_sealer(repo.keys.keyring.id_key).open(
            ObjectKind.LOCK, held.name.encode(), repo.backend.get(held.name)
        )
    slot_name = next(
        info.name for info in repo.backend.list("keys/") if "/" not in info.name[len("keys/") :]
    )
    snapshot_raw, key_id = repo.snapshots.load_bytes(snapshot.id)
    session_name = next(info.name for info in repo.backend.list("keys/sessions/"))
    yield Corpus(
        repo=repo,
        agent_credential=AgentCredential.from_bytes((base / "web1.cred").read_bytes()),
        tree=_richest_tree(repo, snapshot.tree),
        snapshot=snapshot_raw,
        snapshot_id=snapshot.id,
        snapshot_key_id=key_id,
        agent_snapshot=agent_raw,
        agent_snapshot_body=agent_body,
        index=index_plain,
        pack_header=header_plain,
        lock=lock_plain,
        slot=repo.backend.get(slot_name),
        slot_id=slot_name[len("keys/") :],
        keyring=repo.keys.keyring.to_bytes(),
        config=repo.backend.get(CONFIG_NAME),
        credential=(base / "web1.cred").read_bytes(),
        session=repo.backend.get(session_name),
        session_key_id=bytes.fromhex(session_name.rsplit("/", 1)[-1]),
    )
    repo.close()


def _sealed_header(repo: Repository, pack_id: bytes) -> bytes:
    name = pack_name(pack_id)
    data = repo.backend.get(name)
    offset, length = header_span(len(data), data[-TRAILER_SIZE:])
    return data[offset : offset + length]


# --------------------------------------------------------------------------- the parsers
def test_positive_control_catches_an_unvalidated_parser(corpus: Corpus) -> None:
    """The harness must report a parser that trusts field types (or the tests prove nothing)."""

    def toy_tree_parser(data: bytes) -> int:
        document = unpack_msgpack(data, "toy tree")  # decoding errors are keyark's...
        return sum(int(node["m"]) for node in document["nodes"])  # ...field access is not

    with pytest.raises(NonKeyarkError, match=r"toy: (KeyError|TypeError|ValueError)"):
        fuzz("toy", toy_tree_parser, corpus.tree, MSGPACK, 200)


def test_tree_parser(corpus: Corpus) -> None:
    def parse(data: bytes) -> None:
        for node in decode_tree(data, b"\x01" * 32):
            node.describe()

    fuzz("decode_tree", parse, corpus.tree, MSGPACK, 200)


def test_tree_read_path(corpus: Corpus) -> None:
    """Trees sealed validly into packs and read back through ``load_tree``."""
    repo = corpus.repo

    def parse(data: bytes) -> None:
        tree_id, _ = repo.blobs.save_blob(TREE, data)
        repo.blobs.flush()
        for node in repo.blobs.load_tree(tree_id):
            node.describe()

    fuzz("load_tree", parse, corpus.tree, MSGPACK, 50)


def test_snapshot_parser(corpus: Corpus) -> None:
    key_id = corpus.snapshot_key_id.hex()

    def parse(data: bytes) -> None:
        Snapshot.from_bytes(corpus.snapshot_id, data, key_id).describe()

    fuzz("Snapshot.from_bytes", parse, corpus.snapshot, MSGPACK, 200)


def _read_back_snapshot(repo: Repository, document: bytes) -> None:
    """Seal ``document`` validly under its own id, read it by ``load_snapshot``, delete it."""
    snapshot_id = repo.snapshots.store_bytes(document, overwrite=True)
    try:
        repo.snapshots.load(snapshot_id).describe()
    finally:
        repo.snapshots.delete(snapshot_id)


def test_snapshot_read_path(corpus: Corpus) -> None:
    """Snapshot documents sealed validly under their own id and read by ``load_snapshot``."""
    repo = corpus.repo

    def parse(data: bytes) -> None:
        _read_back_snapshot(repo, data)

    fuzz("load_snapshot", parse, corpus.snapshot, MSGPACK, 50)


def test_agent_signed_snapshot_read_path(corpus: Corpus) -> None:
    """An agent can sign any body: mutated bodies, signed with its real key, then read."""
    repo, credential = corpus.repo, corpus.agent_credential

    def parse(body: bytes) -> None:
        signed = wrap_signed(credential.name, body, credential.sign(repo.repo_id, body))
        _read_back_snapshot(repo, signed)

    fuzz("load_snapshot (agent-signed)", parse, corpus.agent_snapshot_body, MSGPACK, 50)


def test_snapshot_wrapper_read_path(corpus: Corpus) -> None:
    """The signature wrapper itself, mutated and sealed validly."""
    repo = corpus.repo

    def parse(data: bytes) -> None:
        _read_back_snapshot(repo, data)

    fuzz("load_snapshot (wrapper)", parse, corpus.agent_snapshot, MSGPACK, 50)


def test_index_parser(corpus: Corpus) -> None:
    fuzz("decode_index", decode_index, corpus.index, MSGPACK, 200)


def test_index_read_path(corpus: Corpus) -> None:
    """Index files sealed validly, named by their SHA-256, read by ``read_index_file``.

    Each record then goes into a master index and its locations are read from the packs
    (hostile offsets and lengths must give keyark errors, not crashes).
    """
    shared = corpus.repo

    def parse(data: bytes) -> None:
        repo = Repository(shared.backend, shared.config, shared.keys.keyring)  # a fresh index
        sealed = repo.blobs.current_sealer().seal(ObjectKind.INDEX, b"", data)
        name = "index/" + hashlib.sha256(sealed).hexdigest()
        repo.backend.put(name, sealed)
        try:
            for record in repo.blobs.read_index_file(name):
                repo.blobs.add_record(record)
                for entry in record.entries[:4]:
                    location = BlobLocation.in_pack(
                        record.pack_id, entry, record.key_id, record.trusted
                    )
                    try:
                        repo.blobs.read_copy(location)
                    except KeyarkError:
                        pass
                    repo.blobs.load_blob(entry.blob_id)
        finally:
            repo.backend.delete(name)

    fuzz("read_index_file", parse, corpus.index, MSGPACK, 50)


def test_pack_header_parser(corpus: Corpus) -> None:
    sealer = corpus.repo.blobs.current_sealer()

    def parse(data: bytes) -> None:
        rows = unpack_msgpack(data, "pack header")
        if isinstance(rows, list):
            for row in rows:
                try:
                    PackEntry.from_row(row)
                except KeyarkError:
                    pass
        parse_header(sealer, sealer.seal(ObjectKind.PACK_HEADER, b"", data))

    fuzz("parse_header", parse, corpus.pack_header, MSGPACK, 200)


def test_lock_parser_and_read_path(corpus: Corpus) -> None:
    repo = corpus.repo
    sealer = lock_sealer(repo.keys.keyring.id_key)

    def parse(data: bytes) -> None:
        name = LOCK_PREFIX + os.urandom(16).hex()
        try:
            LockInfo.parse(data, name).describe()
        except KeyarkError:
            pass
        repo.backend.put(name, sealer.seal(ObjectKind.LOCK, name.encode(), data))
        try:
            for info in read_locks(repo.backend, sealer):
                info.is_stale()
                info.describe()
        finally:
            repo.backend.delete(name)

    fuzz("lock", parse, corpus.lock, JSON, 200)


def test_key_slot_parser(corpus: Corpus) -> None:
    fuzz(
        "KeySlot.from_bytes",
        lambda data: KeySlot.from_bytes(corpus.slot_id, data),
        corpus.slot,
        JSON,
        300,
    )


def test_keyring_parser(corpus: Corpus) -> None:
    """The keyring and what its readers do with it next (agent registry, recipient)."""

    def parse(data: bytes) -> None:
        keyring = Keyring.from_bytes(data)
        keyring.current.key_id.hex()
        keyring.config_public_key.hex()
        recipient_of(keyring)
        for entry in agents_of(keyring).values():
            hosts_of(entry)
            accepted_of(entry)

    fuzz("Keyring.from_bytes", parse, corpus.keyring, MSGPACK, 200)


def test_config_parser(corpus: Corpus) -> None:
    keyring = corpus.repo.keys.keyring

    def parse(data: bytes) -> None:
        RepoConfig.peek(data)
        RepoConfig.from_bytes(data, keyring.id_key, keyring.config_public_key)

    fuzz("RepoConfig (as stored)", parse, corpus.config, JSON, 200)


def test_config_parser_behind_a_valid_signature(corpus: Corpus) -> None:
    """Mutated configs re-signed with the real config key still never crash the parser."""
    keyring = corpus.repo.keys.keyring
    private = ed25519.Ed25519PrivateKey.from_private_bytes(keyring.config_signing_key)

    def parse(data: bytes) -> None:
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        if isinstance(document, dict):
            unsigned = {k: v for k, v in document.items() if k != "signature"}
            try:
                message = SIGNATURE_CONTEXT + canonical_json(unsigned)
            except (TypeError, ValueError):
                message = None
            if message is not None:
                document["signature"] = private.sign(message).hex()
                data = json.dumps(document).encode()
        RepoConfig.from_bytes(data, keyring.id_key, keyring.config_public_key)

    fuzz("RepoConfig (re-signed)", parse, corpus.config, JSON, 200)


def test_session_key_parser(corpus: Corpus) -> None:
    """Wrapped agent session keys (keys/sessions/*), which any storage writer can replace."""
    recipient = recipient_of(corpus.repo.keys.keyring)
    assert recipient is not None
    fuzz(
        "recipients.unwrap",
        lambda data: unwrap(recipient, corpus.session_key_id, data),
        corpus.session,
        MSGPACK,
        200,
    )


def test_agent_credential_parser(corpus: Corpus) -> None:
    fuzz("AgentCredential.from_bytes", AgentCredential.from_bytes, corpus.credential, JSON, 200)


def test_seeds_are_real_objects(corpus: Corpus) -> None:
    """Sanity: each seed parses as-is, so every fuzz target really reaches its parser."""
    assert decode_tree(corpus.tree)
    assert LockInfo.parse(corpus.lock, LOCK_PREFIX + "x").readable
    assert Keyring.from_bytes(corpus.keyring).id_key == corpus.repo.keys.keyring.id_key
