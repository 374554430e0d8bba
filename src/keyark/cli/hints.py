"""The command line's wording of the core's face-neutral hints (:class:`keyark.errors.Hint`)."""

from __future__ import annotations

from keyark.errors import Hint

#: Each hint as a command or flag of this CLI.
WORDING: dict[Hint, str] = {
    Hint.UNLOCK: "if that process is gone, run 'keyark unlock'",
    Hint.RETRY_LOCK: "wait for it, or retry with --retry-lock DURATION",
    Hint.INIT: "create one with 'keyark init'",
    Hint.PASSPHRASE: "check KEYARK_PASSWORD / --password-file / --key-file",
    Hint.PKCS11_PIN: "set KEYARK_PKCS11_PIN",
    Hint.PKCS11_TOKEN: "use --pkcs11-token LABEL",
    Hint.PKCS11_KEY: "use --pkcs11-key LABEL",
    Hint.CHECK: "run 'keyark check' to list damaged objects",
    Hint.REPAIR_INDEX: "run 'keyark repair index'",
    Hint.REPAIR_CONFIG: "run 'keyark repair config'",
    Hint.REPAIR_KEYRING: "run 'keyark repair keyring'",
    Hint.PRUNE: "run 'keyark prune' to free space",
    Hint.AGENT_ADD: "issue a new credential with 'keyark agent add'",
    Hint.AGENT_LIST: "see 'keyark agent list'",
    Hint.REINIT: "re-create the repository with 'keyark init' and back up again",
    Hint.REPAIR: "run 'keyark check', then 'keyark repair index' and 'keyark repair snapshots'",
    Hint.RETENTION_POLICY: "use --keep-last, --keep-daily, --keep-within, ...",
    Hint.REMOVE_LOCK: "run 'keyark unlock' to remove it",
    Hint.CHECK_DATA: "run 'keyark check --read-data'",
    Hint.ROTATE_ROOT: "run 'keyark key rotate --root' again to finish it",
    Hint.SNAPSHOTS: "see 'keyark snapshots'",
    Hint.KEY_LIST: "see 'keyark key list'",
    Hint.FORCE_REMOVE: "use --force to remove the key slot in use",
    Hint.PKCS11_MECHANISM: "use --pkcs11-mechanism rsa-oaep-sha1",
    Hint.AGENT_HOST: "pass --host with one of the agent's hosts",
    Hint.ALLOW_UNSIGNED: "use --allow-unsigned to allow it",
    Hint.SELECT_ALL: "name snapshots, or use --all",
    Hint.CACHE_DIR: "use --cache-dir DIR or --no-cache",
    Hint.REDIRECT_OUTPUT: "redirect the output to a file or a pipe, or use --target FILE",
    Hint.SOURCE_PASSPHRASE: ("check KEYARK_FROM_PASSWORD / --from-password-file / --from-key-file"),
    Hint.RESTORE_TARGET: "give --target a directory you can write to (created if missing)",
    Hint.LIST_PATHS: "see the snapshot's paths with 'keyark ls SNAPSHOT' (docs/patterns.md)",
    Hint.SELECT_SNAPSHOTS: "name snapshots, select them with --host/--tag/--path, or use --all",
    Hint.CONFIG_REFERENCE: "see docs/config-reference.md or 'keyark config schema'",
    Hint.CONFIG_FILE: (
        "give --config FILE (or KEYARK_CONFIG) or create ./keyark.yaml ('keyark config init')"
    ),
    Hint.AUDIT_DIR: (
        "make the audit directory writable, or set audit.local_dir in the config file"
        " (default: KEYARK_STATE_DIR/audit)"
    ),
    Hint.INVENTORY_BUILD: "build it with 'keyark inventory build SNAPSHOT'",
    Hint.AUTHENTICATE: "give a valid API token ('keyark server token create') or log in again",
    Hint.PERMISSION: "ask an administrator for a role that allows it",
    Hint.RETRY_LATER: "wait a moment and try again",
    Hint.CSRF_TOKEN: "reload the page and submit it again",
    Hint.MOUNTPOINT: "give an existing, empty directory as MOUNTPOINT",
    Hint.FUSE: (
        "install FUSE ('apt-get install fuse3') and make /dev/fuse available"
        " (a container needs --device /dev/fuse and CAP_SYS_ADMIN)"
    ),
    Hint.SERVE_TLS: "give --tls-cert FILE and --tls-key FILE, or --insecure-http",
    Hint.EXPORT_KEY: ("compare with the sender's 'keyark export key' and pin it with --public-key"),
    Hint.OPENSSL_KEY: (
        "give the key file it was encrypted with (--openssl-key-file) or force the key "
        "derivation (--openssl-kdf pbkdf2|md5|sha256)"
    ),
    Hint.NO_RESTORE_POINT: "restore with --no-restore-point to go on without one",
    Hint.LIST_RESTORE_POINTS: "list them with 'keyark restore-points list'",
}


def cli_hint(hint: Hint | None) -> str:
    """The hint as this CLI says it ('' for none)."""
    return "" if hint is None else WORDING.get(hint, "")


__all__ = ["WORDING", "cli_hint"]
