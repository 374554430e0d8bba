"""The audit log: who did what, in hash chains keyed from the repository keyring.

:mod:`keyark.audit.record` (records, checkpoints, their canonical bytes),
:mod:`keyark.audit.keys` (the HMAC and signing keys), :mod:`keyark.audit.local`
(the JSON-lines copy in the state directory), :mod:`keyark.audit.remote` (the sealed
write-once copy in the repository), :mod:`keyark.audit.writer` (the catalogue's hook),
:mod:`keyark.audit.verify` and :mod:`keyark.audit.export`. See ``docs/audit.md``.
"""
