"""Every error keyark raises, and the one place that maps them to exit codes.

Exit codes follow restic: 0 ok, 1 error, 3 backup made but some sources unreadable,
10 no repository, 11 lock failed, 12 wrong passphrase, 130 interrupted.
Messages are one line that says what is wrong and what to do; they never carry secrets.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_NO_REPOSITORY = 10
EXIT_LOCKED = 11
EXIT_WRONG_PASSWORD = 12
EXIT_INTERRUPTED = 130


class KeyarkError(Exception):
    """Base of every keyark error; `exit_code` is what the CLI returns for it."""

    exit_code: int = EXIT_ERROR


class UsageError(KeyarkError):
    """The user asked for something malformed or contradictory."""


class RepositoryNotFoundError(KeyarkError):
    """No repository exists at the given location."""

    exit_code = EXIT_NO_REPOSITORY


class RepositoryExistsError(KeyarkError):
    """`init` was asked to create a repository where one already exists."""


class WrongPasswordError(KeyarkError):
    """No key slot opens with the supplied key material."""

    exit_code = EXIT_WRONG_PASSWORD


class LockError(KeyarkError):
    """A lock could not be taken because another process holds a conflicting one."""

    exit_code = EXIT_LOCKED


class IntegrityError(KeyarkError):
    """Stored data failed authentication, hashing or parsing."""


class FormatError(IntegrityError):
    """An object is not in a format this version of keyark understands."""


class TrustError(IntegrityError):
    """Storage holds an object older or weaker than one this client already trusted.

    For example a replayed (older) keyring, or a config whose recorded Object Lock
    setting was removed. See ``keyark.repo.trust_state``.
    """


class SnapshotNotFoundError(KeyarkError):
    """No snapshot matches the given id, prefix or selector."""


class SourceError(KeyarkError):
    """A backup source is missing or unusable as a whole."""


class RestoreError(KeyarkError):
    """Restore could not write some entries (the message names them)."""


class UnsafePathError(RestoreError):
    """A snapshot entry would land outside the restore target."""


class BackendError(KeyarkError):
    """Base of the three storage error kinds."""


class NotFoundError(BackendError):
    """The named object does not exist in the backend."""


class AlreadyExistsError(BackendError):
    """`put` was refused because the object already exists."""


class PermanentBackendError(BackendError):
    """Retrying will not help: bad credentials, missing bucket, disk full, ..."""


class ContainerNotFoundError(PermanentBackendError):
    """The bucket or container of an object store does not exist: no repository there."""

    exit_code = EXIT_NO_REPOSITORY


class TransientBackendError(BackendError):
    """A retry may succeed: timeouts, throttling, dropped connections."""


class ContractError(KeyarkError):
    """A backend does not do what the backend contract (``keyark.testing``) requires."""


class MissingExtraError(KeyarkError):
    """A backend needs an optional dependency that is not installed."""


def exit_code_for(error: BaseException) -> int:
    """Map any exception to the documented exit code."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, KeyarkError):
        return error.exit_code
    return EXIT_ERROR
