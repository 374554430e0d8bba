"""``export``, ``export verify``, ``export key`` and ``import``: archives in and out.

See :mod:`keyark.exchange` and docs/recovery.md ("Export and import").
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keyark.catalog.snapshots import find_snapshot, require_trusted
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.events import Code
from keyark.exchange.export import ExportRequest, export_snapshot
from keyark.exchange.importer import Imported as Imported
from keyark.exchange.importer import ImportRequest, import_archives
from keyark.exchange.manifest import ALGORITHMS, parse_algorithms
from keyark.exchange.openssl import KDFS, read_password
from keyark.exchange.signing import ExportSigner, parse_public_key
from keyark.exchange.streams import EXPORT_FORMATS
from keyark.exchange.verify import verify_archive
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import SnapshotFilter
from keyark.repo.snapshot_trust import is_agent_snapshot

#: The choices a face offers: archive formats, checksums, openssl key derivations.
EXPORT_ARCHIVE_FORMATS = EXPORT_FORMATS
EXPORT_CHECKSUMS = ALGORITHMS
OPENSSL_KDFS = KDFS


@dataclass
class ExportOptions:
    """Which snapshot (and directory of it), where, and how the archive is made."""

    snapshot: str
    output: str
    #: The snapshot directory exported (entry names are relative to it); ``/``: all.
    base: str = "/"
    #: ``tar``, ``tar.gz``, ``tar.zst`` or ``zip``.
    format: str = "tar.gz"
    #: Manifests written beside the archive: ``sha256`` always, ``sha1``/``md5`` on request.
    checksums: list[str] = field(default_factory=lambda: ["sha256"])
    #: Write a detached signature by the repository (``OUTPUT.sig``).
    sign: bool = False
    #: Encrypt the archive and its manifests to this age recipient (``age1...``).
    recipient: str | None = None
    #: Export a flagged snapshot (unsigned, foreign host, ...): normally refused.
    allow_unsigned: bool = False
    #: Which snapshots ``latest`` chooses among.
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


@dataclass
class ExportResult:
    """The files an export wrote."""

    snapshot_id: str
    output: str
    format: str
    members: int
    size: int
    sha256: str
    manifests: list[str]
    signature: str | None
    #: The key that signed it (``ed25519:<hex>``; None: unsigned).
    public_key: str | None
    encrypted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@operation("export", options=ExportOptions, result=ExportResult, mutates=False, reads_secrets=True)
def export(ctx: OperationContext, options: ExportOptions) -> ExportResult:
    """Write a snapshot (or one directory of it) as an archive with checksum manifests.

    Optionally signed by the repository and encrypted to an age recipient; every file
    is written 0600 and only once the whole export succeeded.
    """
    if options.format not in EXPORT_FORMATS:
        raise UsageError(
            f"unknown archive format {options.format!r} (use {', '.join(EXPORT_FORMATS)})"
        )
    algorithms = parse_algorithms(options.checksums)
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx, options.selection)
        trust = require_trusted(repo, chosen, options.allow_unsigned, "export")
        agent = is_agent_snapshot(chosen)
        if agent:
            ctx.events.warn(
                Code.SNAPSHOT_AGENT,
                f"exporting snapshot {chosen.short_id} ({trust})",
                subject=chosen.id,
            )
        signer = ExportSigner(repo.keys.keyring.id_key) if options.sign else None
        request = ExportRequest(
            base=options.base,
            output=Path(options.output),
            format=options.format,
            algorithms=algorithms,
            signer=signer,
            recipient=options.recipient,
            drop_privileges=agent,
        )
        done = export_snapshot(repo, chosen, request, ctx)
    return ExportResult(
        chosen.id,
        done.archive,
        options.format,
        done.members,
        done.size,
        done.sha256,
        done.manifests,
        done.signature,
        None if signer is None else signer.public_key,
        options.recipient is not None,
    )


@dataclass
class ExportVerifyOptions:
    """The archive, the pinned public key and (for an encrypted one) the identity."""

    archive: str
    #: The sender's export key as ``export key`` prints it (``ed25519:<hex>``).
    public_key: str | None = None
    #: The age identity (``AGE-SECRET-KEY-1...``) an encrypted export is checked with.
    identity: str | None = field(default=None, repr=False, metadata={"secret": True})
    #: A file holding that identity (as ``age-keygen`` writes it).
    identity_file: str | None = None


@dataclass
class ExportVerifyResult:
    """Everything checked matched (a mismatch is an error instead)."""

    archive: str
    manifests: list[str]
    members: int
    members_checked: bool
    encrypted: bool
    signed: bool
    signer: str | None
    pinned: bool
    snapshot_id: str | None
    repository: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": True}


@operation("export verify", options=ExportVerifyOptions, result=ExportVerifyResult, mutates=False)
def export_verify(ctx: OperationContext, options: ExportVerifyOptions) -> ExportVerifyResult:
    """Check an exported archive against its manifests and signature (no repository needed).

    The first mismatch is an ArchiveIntegrityError naming it.
    """
    pinned = None if options.public_key is None else parse_public_key(options.public_key)
    identity = options.identity
    if options.identity_file is not None:
        identity = _read_secret_file(options.identity_file, "identity file").decode(
            "utf-8", "replace"
        )
    done = verify_archive(Path(options.archive), ctx.events, pinned=pinned, identity=identity)
    statement = done.statement
    snapshot = statement.get("snapshot")
    repository = statement.get("repository")
    return ExportVerifyResult(
        done.archive,
        done.manifests,
        done.members,
        done.members_checked,
        done.encrypted,
        done.signed,
        done.signer,
        done.pinned,
        snapshot if isinstance(snapshot, str) else None,
        repository if isinstance(repository, str) else None,
    )


@dataclass
class ExportKeyOptions:
    """No options: the repository's export key."""


@dataclass
class ExportKey:
    """The public key that verifies this repository's signed exports."""

    public_key: str
    repository: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@operation("export key", options=ExportKeyOptions, result=ExportKey, mutates=False)
def export_key(ctx: OperationContext, options: ExportKeyOptions) -> ExportKey:
    """Show the public key that verifies this repository's signed exports (to pin it)."""
    with opened(ctx) as repo:
        signer = ExportSigner(repo.keys.keyring.id_key)
        return ExportKey(signer.public_key, repo.repo_id)


@dataclass
class ImportOptions:
    """The archives, and the host, tags and time of their snapshots."""

    archives: list[str]
    #: The host the snapshots are recorded for (default: this one).
    host: str | None = None
    tags: list[str] = field(default_factory=list)
    #: Take each snapshot's time from ``YYYYMMDD_HHMMSS`` in the archive's name.
    time_from_name: bool = False
    #: The key file of ``openssl enc`` archives (its first line is the password, as
    #: ``openssl enc -pass file:KEYFILE`` reads it: the seed's ``backup_master.key``).
    openssl_key_file: str | None = None
    #: Or that password itself.
    openssl_password: bytes | None = field(default=None, repr=False, metadata={"secret": True})
    #: Force the openssl key derivation: ``pbkdf2``, ``md5`` or ``sha256``.
    openssl_kdf: str | None = None


@dataclass
class ImportResult:
    """One snapshot per archive."""

    imported: list[Imported]

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": [item.to_dict() for item in self.imported],
            "snapshot_ids": [item.snapshot_id for item in self.imported],
        }


@operation("import", options=ImportOptions, result=ImportResult, mutates=True)
def import_(ctx: OperationContext, options: ImportOptions) -> ImportResult:
    """Store existing archives (tar, tar.gz, tar.zst, zip, openssl enc) as snapshots.

    Each archive is checked whole (unsafe members, its .sha256 file) before any is
    stored; a refused archive stores nothing.
    """
    if options.openssl_kdf is not None and options.openssl_kdf not in OPENSSL_KDFS:
        raise UsageError(
            f"unknown key derivation {options.openssl_kdf!r} (use {', '.join(OPENSSL_KDFS)})"
        )
    password = options.openssl_password
    if options.openssl_key_file is not None:
        password = read_password(options.openssl_key_file)
    request = ImportRequest(
        archives=[Path(name) for name in options.archives],
        host=options.host or socket.gethostname(),
        tags=list(options.tags),
        time_from_name=options.time_from_name,
        password=password,
        kdf=options.openssl_kdf,
    )
    with opened(ctx) as repo:
        return ImportResult(import_archives(repo, request, ctx))


def _read_secret_file(path: str, what: str) -> bytes:
    """A small secret file's bytes; UsageError (one line, no content) when unreadable."""
    try:
        return Path(path).read_bytes()[: 64 * 1024]
    except OSError as error:
        raise UsageError(f"cannot read the {what} {path}: {error.strerror or error}") from None
