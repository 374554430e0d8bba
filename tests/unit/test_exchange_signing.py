"""The export signature, the checksum manifests and times from the seed's archive names."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from keyark.errors import FormatError, UsageError
from keyark.exchange.manifest import Manifest, parse_algorithms, parse_manifest
from keyark.exchange.names import stem, time_from_name
from keyark.exchange.signing import (
    ExportSigner,
    InvalidSignatureError,
    open_signature,
    parse_public_key,
)


def test_a_statement_verifies_and_names_its_key() -> None:
    signer = ExportSigner(os.urandom(32))
    signed = open_signature(signer.sign({"archive": {"sha256": "ab"}}), "x.sig")
    assert signed.public_key == signer.public_key
    assert signed.statement["archive"] == {"sha256": "ab"}
    assert repr(signer) == f"ExportSigner({signer.public_key})"  # never the private key


def test_the_key_is_stable_per_id_key_and_differs_between_repositories() -> None:
    id_key = os.urandom(32)
    assert ExportSigner(id_key).public_key == ExportSigner(id_key).public_key
    assert ExportSigner(id_key).public_key != ExportSigner(os.urandom(32)).public_key


@pytest.mark.parametrize("field", ["archive", "public_key"])
def test_a_changed_statement_or_swapped_key_does_not_verify(field: str) -> None:
    document = json.loads(ExportSigner(os.urandom(32)).sign({"archive": {"sha256": "ab"}}))
    if field == "archive":
        document["archive"]["sha256"] = "cd"
    else:  # another key claimed, the old signature kept: it no longer verifies
        document["public_key"] = ExportSigner(os.urandom(32)).public_key
    with pytest.raises(InvalidSignatureError):
        open_signature(json.dumps(document).encode(), "x.sig")


def test_what_is_not_a_signature_file_is_a_format_error() -> None:
    for data in (b"not json", b"[]", json.dumps({"type": "other"}).encode()):
        with pytest.raises(FormatError):
            open_signature(data, "x.sig")


def test_public_keys_parse_with_or_without_prefix() -> None:
    key = ExportSigner(os.urandom(32)).public_key
    assert parse_public_key(key) == parse_public_key(key.split(":", 1)[1])
    with pytest.raises(UsageError, match="64 hex digits"):
        parse_public_key("ed25519:abcd")


def test_manifests_round_trip_with_names_sha256sum_escapes() -> None:
    manifest = Manifest(("sha256", "md5"))
    odd = "keys/new\nline\\back.key"
    manifest.add(odd, {"sha256": "a" * 64, "md5": "b" * 32})
    manifest.add("keys/plain.key", {"sha256": "c" * 64, "md5": "d" * 32})
    text = manifest.render("sha256")
    assert text.startswith(b"\\" + b"a" * 64 + b"  keys/new\\nline\\\\back.key\n")
    assert parse_manifest("sha256", text, "S") == {odd: "a" * 64, "keys/plain.key": "c" * 64}
    assert parse_manifest("md5", manifest.render("md5"), "M")["keys/plain.key"] == "d" * 32
    with pytest.raises(FormatError, match="line 1"):
        parse_manifest("sha256", b"xyz  name\n", "S")


def test_checksum_choices() -> None:
    assert parse_algorithms(["md5"]) == ("sha256", "md5")
    assert parse_algorithms(["sha1", "SHA256", "md5"]) == ("sha256", "sha1", "md5")
    with pytest.raises(UsageError, match="unknown checksum crc32"):
        parse_algorithms(["crc32"])


def test_time_and_stem_of_the_seeds_archive_names() -> None:
    moment = time_from_name("keys_backup_20240716_142533.tar.gz")
    assert moment == datetime(2024, 7, 16, 14, 25, 33).astimezone()
    assert moment.tzinfo is not None
    assert stem("keys_backup_20240716_142533.tar.gz.enc") == "keys_backup_20240716_142533"
    for bad in ("keys_backup.tar.gz", "keys_backup_20241316_142533.tar.gz"):
        with pytest.raises(UsageError, match="YYYYMMDD_HHMMSS"):
            time_from_name(bad)
