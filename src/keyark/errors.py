"""Every error keyark raises, and the one place that maps them to exit codes.

Exit codes follow restic: 0 ok, 1 error, 3 backup made but some sources unreadable,
10 no repository, 11 lock failed, 12 wrong passphrase, 130 interrupted.
Messages are one line that says what is wrong and what to do; they never carry secrets.
"""

from __future__ import annotations

from enum import StrEnum

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_NO_REPOSITORY = 10
EXIT_LOCKED = 11
EXIT_WRONG_PASSWORD = 12
EXIT_INTERRUPTED = 130


class Hint(StrEnum):
    """What the user can do about an error, said without naming a face.

    Each face words it for its users (:mod:`keyark.cli.hints` names a command or
    flag; the HTTP API returns the code and an action in its own terms).
    """

    #: Remove stale locks of processes that are gone.
    UNLOCK = "unlock"
    #: Wait for (or retry after) the process that holds the lock.
    RETRY_LOCK = "retry_lock"
    #: Create a repository at this location first.
    INIT = "init"
    #: Supply the right passphrase or key source.
    PASSPHRASE = "passphrase"  # noqa: S105 (a hint name, not a secret)
    #: Supply the PKCS#11 user PIN.
    PKCS11_PIN = "pkcs11_pin"
    #: Name the PKCS#11 token / key.
    PKCS11_TOKEN = "pkcs11_token"  # noqa: S105 (a hint name, not a secret)
    PKCS11_KEY = "pkcs11_key"
    #: Run a check to list damaged objects.
    CHECK = "check"
    #: Rebuild the index from the packs.
    REPAIR_INDEX = "repair_index"
    #: Restore the config / keyring from its verified copy.
    REPAIR_CONFIG = "repair_config"
    REPAIR_KEYRING = "repair_keyring"
    #: Free space in storage (prune).
    PRUNE = "prune"
    #: List the damage with a check, then repair the index and the snapshots.
    REPAIR = "repair"
    #: Give a retention policy (which snapshots to keep).
    RETENTION_POLICY = "retention_policy"
    #: Issue a new agent credential.
    AGENT_ADD = "agent_add"
    #: List the registered agents.
    AGENT_LIST = "agent_list"
    #: Re-create the repository (an unsupported format).
    REINIT = "reinit"
    #: Remove an unreadable lock object (no process can be holding it).
    REMOVE_LOCK = "remove_lock"
    #: Read and verify every stored blob to list what is damaged.
    CHECK_DATA = "check_data"
    #: Finish an interrupted root-key rotation by running it again.
    ROTATE_ROOT = "rotate_root"
    #: List the snapshots (to find an id).
    SNAPSHOTS = "snapshots"
    #: List the key slots (to find a slot id).
    KEY_LIST = "key_list"
    #: Repeat with the force option to remove the key slot in use.
    FORCE_REMOVE = "force_remove"
    #: Use the PKCS#11 mechanism rsa-oaep-sha1 (the token lacks SHA-256 OAEP).
    PKCS11_MECHANISM = "pkcs11_mechanism"
    #: Name one of the agent's registered hosts explicitly.
    AGENT_HOST = "agent_host"
    #: Allow flagged (unsigned) snapshots explicitly.
    ALLOW_UNSIGNED = "allow_unsigned"
    #: Select every snapshot instead of naming some.
    SELECT_ALL = "select_all"
    #: Point the cache at another directory, or keep it in memory.
    CACHE_DIR = "cache_dir"
    #: Send the output to a file or a pipe instead of a terminal.
    REDIRECT_OUTPUT = "redirect_output"
    #: Supply the right passphrase or key of the source repository (copy).
    SOURCE_PASSPHRASE = "source_passphrase"  # noqa: S105 (a hint name, not a secret)
    #: Name a directory that can be created and written to as the restore target.
    RESTORE_TARGET = "restore_target"
    #: List the snapshot's paths to write patterns that match them.
    LIST_PATHS = "list_paths"
    #: Name snapshots, select them by host, tag or path, or select all of them.
    SELECT_SNAPSHOTS = "select_snapshots"
    #: Look up the config file's keys and their forms (its schema and reference).
    CONFIG_REFERENCE = "config_reference"
    #: Name a config file, or create one in the usual place.
    CONFIG_FILE = "config_file"
    #: Make the audit log's local directory writable (or name another one).
    AUDIT_DIR = "audit_dir"
    #: Build the key and certificate inventory of a snapshot saved without one.
    INVENTORY_BUILD = "inventory_build"
    #: Authenticate: give a valid API token or log in again.
    AUTHENTICATE = "authenticate"
    #: Ask an administrator for a role that holds the needed permission.
    PERMISSION = "permission"
    #: Wait the given number of seconds before trying again.
    RETRY_LATER = "retry_later"
    #: Send the session's CSRF token with the request (reload the page).
    CSRF_TOKEN = "csrf_token"  # noqa: S105 (a hint name, not a secret)
    #: Name an existing, empty directory that is not a mount point as the mount point.
    MOUNTPOINT = "mountpoint"
    #: Make FUSE available: the FUSE device and libfuse (Debian's fuse3 package).
    FUSE = "fuse"
    #: Serve over TLS (a certificate and key), or allow plain HTTP explicitly.
    SERVE_TLS = "serve_tls"
    #: Compare with (or pin) the sending repository's export public key.
    EXPORT_KEY = "export_key"
    #: Give the key file an openssl-encrypted archive was made with (or force its KDF).
    OPENSSL_KEY = "openssl_key"
    #: Restore without a restore point (or free what keeps one from being saved).
    NO_RESTORE_POINT = "no_restore_point"
    #: List the restore points (to find one, or the target they record).
    LIST_RESTORE_POINTS = "list_restore_points"


class KeyarkError(Exception):
    """Base of every keyark error.

    ``code`` is machine-readable and stable (``"lock"``, ``"wrong_password"`` ...),
    ``hint`` a face-neutral :class:`Hint` (or None), ``exit_code`` what the CLI
    returns. The message says what is wrong, in words any face can show; a class
    may give a ``default_message`` and ``default_hint`` for a raiser that names none.
    """

    exit_code: int = EXIT_ERROR
    code: str = "error"
    #: The message when the raiser gives none.
    default_message: str = ""
    #: The hint when the raiser gives none.
    default_hint: Hint | None = None

    def __init__(self, message: str | None = None, *, hint: Hint | None = None) -> None:
        super().__init__(self.default_message if message is None else message)
        self.hint = hint or self.default_hint


class UsageError(KeyarkError):
    """The user asked for something malformed or contradictory."""

    code = "usage"


class RepositoryNotFoundError(KeyarkError):
    """No repository exists at the given location."""

    code = "no_repository"

    exit_code = EXIT_NO_REPOSITORY


class RepositoryExistsError(KeyarkError):
    """`init` was asked to create a repository where one already exists."""

    code = "repository_exists"


class WrongPasswordError(KeyarkError):
    """No key slot opens with the supplied key material."""

    code = "wrong_password"

    exit_code = EXIT_WRONG_PASSWORD


class LockError(KeyarkError):
    """A lock could not be taken because another process holds a conflicting one."""

    code = "locked"

    exit_code = EXIT_LOCKED


class IntegrityError(KeyarkError):
    """Stored data failed authentication, hashing or parsing."""

    code = "integrity"


class FormatError(IntegrityError):
    """An object is not in a format this version of keyark understands."""

    code = "format"


class TrustError(IntegrityError):
    """Storage holds an object older or weaker than one this client already trusted.

    For example a replayed (older) keyring, or a config whose recorded Object Lock
    setting was removed. See ``keyark.repo.trust_state``.
    """

    code = "trust"


class SnapshotNotFoundError(KeyarkError):
    """No snapshot matches the given id, prefix or selector."""

    code = "snapshot_not_found"


class InventoryMissingError(SnapshotNotFoundError):
    """A snapshot has no key and certificate inventory (saved without one, not built)."""

    code = "inventory_missing"


class SourceError(KeyarkError):
    """A backup source is missing or unusable as a whole."""

    code = "source"


class RestoreError(KeyarkError):
    """Restore could not write some entries (the message names them)."""

    code = "restore"


class RestorePointError(RestoreError):
    """A restore point could not be saved or used (a rollback could not finish)."""

    code = "restore_point"


class RestorePointNotFoundError(KeyarkError):
    """No restore point matches (none for the target, or no such id)."""

    code = "no_restore_point"


class UnsafePathError(RestoreError):
    """A snapshot entry would land outside the restore target."""

    code = "unsafe_path"


class RestoreTargetError(RestoreError):
    """The restore target cannot be a directory to write into (a file, an impossible path)."""

    code = "restore_target"


class NothingSelectedError(UsageError):
    """Include/exclude patterns select no entry of the snapshot."""

    code = "nothing_selected"


class BackendError(KeyarkError):
    """Base of the three storage error kinds."""

    code = "backend"


class NotFoundError(BackendError):
    """The named object does not exist in the backend."""

    code = "not_found"


class AlreadyExistsError(BackendError):
    """`put` was refused because the object already exists."""

    code = "already_exists"


class PermanentBackendError(BackendError):
    """Retrying will not help: bad credentials, missing bucket, disk full, ..."""

    code = "backend_permanent"


class ContainerNotFoundError(PermanentBackendError):
    """The bucket or container of an object store does not exist: no repository there."""

    code = "no_container"

    exit_code = EXIT_NO_REPOSITORY


class TransientBackendError(BackendError):
    """A retry may succeed: timeouts, throttling, dropped connections."""

    code = "backend_transient"


class ContractError(KeyarkError):
    """A backend does not do what the backend contract (``keyark.testing``) requires."""

    code = "contract"


class MissingExtraError(KeyarkError):
    """A backend needs an optional dependency that is not installed."""

    code = "missing_extra"


class DaemonError(KeyarkError):
    """The scheduler daemon cannot start (another one runs) or did not get ready."""

    code = "daemon"


class ErasureUnverifiedError(IntegrityError):
    """After an erasure, a snapshot still lists an erased path or an index entry still
    points at its data without retained content using it."""

    code = "erasure_unverified"

    def __init__(self, message: str = "", *, hint: Hint | None = None, result: object = None):
        super().__init__(message, hint=hint)
        #: What the erasure did and found (the operation's result), for the face to show.
        self.result = result


class ComplianceFailedError(KeyarkError):
    """A compliance report has a control that fails."""

    code = "compliance_failed"


class AuditUnavailableError(KeyarkError):
    """The audit log is required and an operation's record cannot be written."""

    code = "audit_unavailable"


class MountError(KeyarkError):
    """A mount cannot be made: a missing or non-empty mount point, no FUSE device or library."""

    code = "mount"


class CancelledError(KeyarkError):
    """The operation was cancelled (Ctrl-C, SIGTERM, a daemon shutdown, an API request).

    Raised at a checkpoint of :class:`keyark.cancel.CancelToken`; the repository is
    consistent and the lock released by the time a face sees it.
    """

    exit_code = EXIT_INTERRUPTED
    code = "cancelled"

    def __init__(self, message: str = "operation cancelled", *, exit_code: int = EXIT_INTERRUPTED):
        super().__init__(message)
        self.exit_code = exit_code


class AuthenticationError(KeyarkError):
    """A request carries no valid credential (unknown, expired or revoked token or session,
    wrong password or TOTP code)."""

    code = "unauthenticated"
    default_message = "authentication required"
    default_hint = Hint.AUTHENTICATE


class ForbiddenError(KeyarkError):
    """The principal's role does not hold the permission a request needs."""

    code = "forbidden"
    default_message = "permission denied"
    default_hint = Hint.PERMISSION


class CsrfError(ForbiddenError):
    """A state-changing request authenticated by a session lacks the session's CSRF token."""

    code = "csrf"
    default_message = "missing or wrong CSRF token"
    default_hint = Hint.CSRF_TOKEN


class RateLimitedError(KeyarkError):
    """Too many requests (or failed logins) from one token, user or client address."""

    code = "rate_limited"
    default_message = "too many requests"
    default_hint = Hint.RETRY_LATER

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, hint: Hint | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        #: Seconds to wait before the next attempt.
        self.retry_after = retry_after


class UnknownResourceError(KeyarkError):
    """A request names something that does not exist (a task id, a job, a repository)."""

    code = "unknown_resource"


class DirectoryUnavailableError(KeyarkError):
    """The LDAP / Active Directory server cannot be reached or refused the service account."""

    code = "ldap_unavailable"


class DrillFailedError(KeyarkError):
    """A restore drill found a file it could not restore or verify, or one that differs
    from its unchanged live source."""

    code = "drill_failed"


class ArchiveIntegrityError(IntegrityError):
    """An archive does not match its manifest, signature or checksum file."""

    code = "archive_integrity"


class UnsafeArchiveError(KeyarkError):
    """An archive holds a member that would land outside its tree (absolute path, ``..``,
    a link out of the tree) or a device file; nothing of it was stored."""

    code = "unsafe_archive"


class ArchiveDecryptionError(KeyarkError):
    """An encrypted archive cannot be decrypted with the key given."""

    code = "archive_decryption"


class CertificatePinError(KeyarkError):
    """A server presented a TLS certificate other than the one pinned at enrolment."""

    code = "certificate_pin"


def exit_code_for(error: BaseException) -> int:
    """Map any exception to the documented exit code."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, KeyarkError):
        return error.exit_code
    return EXIT_ERROR
