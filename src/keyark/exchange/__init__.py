"""Verified export and import of archives (issue 17 §3).

Export (:mod:`keyark.exchange.export`) writes a snapshot, or one directory of it, as a
tar, tar.gz, tar.zst or zip archive, with manifests of its members' checksums
(:mod:`keyark.exchange.manifest`), optionally a detached Ed25519 signature by the
repository (:mod:`keyark.exchange.signing`) and optionally encrypted to an age
recipient. :mod:`keyark.exchange.verify` checks such an archive on the receiving side.

Import (:mod:`keyark.exchange.importer`) stores existing archives as snapshots: plain
tar, tar.gz, tar.zst and zip, the seed system's ``keys_backup_YYYYMMDD_HHMMSS.tar.gz``
(:mod:`keyark.exchange.names`) and its ``openssl enc -aes-256-cbc`` archives
(:mod:`keyark.exchange.openssl`). Members are read straight into the repository
(never extracted to disk) and unsafe ones are refused (:mod:`keyark.exchange.members`).
"""
