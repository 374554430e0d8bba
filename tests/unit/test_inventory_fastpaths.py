"""The recognisers' fast paths (issue 13, section 3) give exactly what the slow ones give.

Each fast path is compared with the straightforward code it replaces, on generated
input that reaches both sides of every shortcut, and each has a positive control: an
input the shortcut must take (or refuse), so a broken shortcut fails here.
"""

from __future__ import annotations

import base64
import binascii
import string
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyark.inventory import config_files, pem, recognise
from keyark.inventory.bundles import JKS_MAGIC, jks_findings
from keyark.inventory.candidates import openpgp_key_packet
from keyark.inventory.config_files import (
    env_findings,
    is_env_name,
    is_kubeconfig,
    is_plain_text,
    kubeconfig_findings,
)
from keyark.inventory.document import assemble, compact_finding, encode_document
from keyark.inventory.finding import Finding, Inventory
from keyark.inventory.gnupg import gnupg_findings
from keyark.inventory.json_keys import json_key_findings
from keyark.inventory.linking import link
from keyark.inventory.private_keys import PRIVATE_PREFIXES
from keyark.inventory.ssh_keys import _blob_start, key_lines, putty_findings, ssh_public_findings
from keyark.inventory.ssh_wire import KEY_TYPE_PREFIXES

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE64 = string.ascii_letters + string.digits + "+/"


# ----------------------------------------------------------------------------- PEM
def _reference_blocks(data: bytes) -> list[pem.PemBlock]:
    """pem_blocks as it was: every body joined from its stripped lines."""
    blocks: list[pem.PemBlock] = []
    start = 0
    while True:
        begin = data.find(b"-----BEGIN ", start)
        if begin < 0:
            return blocks
        line_start = pem._line_start(data, start, begin)
        line_end, next_line = pem._line_end(data, begin)
        label = pem._begin_label(data[line_start:line_end].strip())
        if label is None:
            start = next_line
            continue
        end_line = pem._end_line(data, next_line)
        if end_line is None:
            return blocks
        end_start, line, after = end_line
        if b"-----END " + label + b"-----" in line:
            lines = [raw.strip() for raw in data[next_line:end_start].splitlines()]
            block = pem._block(label, lines)
            if block is not None:
                blocks.append(block)
        start = after


_BODY_CHARS = st.sampled_from([*BASE64, "=", "\n", "\r\n", " ", "\t", ":", "-", "\x0b"])


@st.composite
def pem_texts(draw: Any) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        label = draw(st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "FOO", "PKCS7"]))
        der = draw(st.sampled_from([b"\x30", b"\x04", b"openssh-key-v1\x00", b""]))
        der += draw(st.binary(max_size=60))
        body = base64.b64encode(der).decode()
        if draw(st.booleans()):  # a plain body, wrapped
            text = "\n".join(body[i : i + 16] for i in range(0, len(body), 16))
        else:  # anything at all
            text = "".join(draw(st.lists(_BODY_CHARS, max_size=40)))
        if draw(st.booleans()):
            text = "Proc-Type: 4,ENCRYPTED\n" + text
        parts.append(f"-----BEGIN {label}-----\n{text}\n-----END {label}-----\n")
    return "".join(parts).encode()


@FAST
@given(data=pem_texts())
def test_pem_bodies_decode_as_joined_lines(data: bytes) -> None:
    assert pem.pem_blocks(data) == _reference_blocks(data)


WANTED = {"CERTIFICATE": b"\x30", "PRIVATE KEY": b"\x30", "PKCS7": b""}


@FAST
@given(data=pem_texts())
def test_wanted_blocks_are_the_useful_ones(data: bytes) -> None:
    everything = pem.pem_blocks(data)
    wanted = pem.pem_blocks(data, WANTED)
    of_labels = [block for block in everything if block.label in WANTED]
    remaining = iter(of_labels)
    assert all(any(block == other for other in remaining) for block in wanted)  # in order
    for block in of_labels:
        if block.body.startswith(WANTED[block.label]):
            assert block in wanted  # nothing a caller could use is left out


def test_pem_prefix_positive_control() -> None:
    not_der = b"-----BEGIN CERTIFICATE-----\nBAMBAgM=\n-----END CERTIFICATE-----\n"
    der = b"-----BEGIN CERTIFICATE-----\nMAMBAgM=\n-----END CERTIFICATE-----\n"
    assert pem.pem_blocks(not_der) and not pem.pem_blocks(not_der, WANTED)
    assert [block.body for block in pem.pem_blocks(der, WANTED)] == [b"\x30\x03\x01\x02\x03"]
    encrypted = (
        b"-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nBAMB\n-----END PRIVATE KEY-----\n"
    )
    assert pem.pem_blocks(encrypted, WANTED)  # headers: never judged by the body's start
    assert pem.pem_blocks(b"-----BEGIN FOO-----\nMAMB\n-----END FOO-----\n", WANTED) == []


def test_left_out_blocks_count_towards_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pem, "MAX_BLOCKS", 3)
    foo = b"-----BEGIN FOO-----\nMAMB\n-----END FOO-----\n"
    broken = b"-----BEGIN FOO-----\nM!MB\n-----END FOO-----\n"
    cert = b"-----BEGIN CERTIFICATE-----\nMAMB\n-----END CERTIFICATE-----\n"
    assert len(pem.pem_blocks(foo * 2 + cert, WANTED)) == 1
    assert pem.pem_blocks(foo * 3 + cert, WANTED) == []  # as without ``wanted``: 3 first
    assert len(pem.pem_blocks(broken * 3 + cert, WANTED)) == 1  # malformed: not counted


@FAST
@given(body=st.text(alphabet=BASE64 + "= -\n", max_size=14))
def test_base64_shortcut_agrees_with_decoding(body: str) -> None:
    raw = body.encode()
    assert pem._is_base64(raw) == (pem._decoded(b"X", raw, {}) is not None)


def test_private_prefixes_skip_only_parsed_labels() -> None:
    assert PRIVATE_PREFIXES["ENCRYPTED PRIVATE KEY"] == b""  # never parsed: any body
    assert PRIVATE_PREFIXES["RSA PRIVATE KEY"] == b"\x30"


# ----------------------------------------------------------------------------- .env
_ENV_LINES = st.sampled_from(
    [
        "A=1", "export B=2", "export\tC = 3", "  D.E=4", "# F=5", "", "   ", "\t# x",
        "not an assignment", "9X=1", "_y=", "export =1", "exportZ=1", "G = ", "export",
        "=x", "H\t\t=v", "  #", "I=a=b", "J ==", "k.l.m=1",
    ]
)  # fmt: skip


@FAST
@given(lines=st.lists(_ENV_LINES, max_size=12), end=st.sampled_from(["", "\n"]))
def test_plain_env_parsing_agrees_line_by_line(lines: list[str], end: str) -> None:
    text = "\n".join(lines) + end
    assert is_plain_text(text)
    assert config_files._plain_assignments(text) == config_files._line_assignments(text)


def test_plain_env_positive_control() -> None:
    assert config_files._plain_assignments("A=1\n# B=2\nexport C=3\nnoise\n") == (["A", "C"], 1)
    for other in ("A=1\r\nB=2", "A=1\x0cB=2", "É=1", "A=1\x1cB=2"):
        assert not is_plain_text(other)  # line ends or spaces only str.splitlines knows


# ----------------------------------------------------------------------------- dispatch
def _reference_parsers(path: str, data: bytes) -> list[Any]:
    """recognise._parsers as it was (every test on the whole data)."""
    if data[:1] == b"\x30":
        return [recognise.der_findings]
    if data.startswith(b"PuTTY-User-Key-File-"):
        return [putty_findings]
    if data.startswith(JKS_MAGIC):
        return [jks_findings]
    if openpgp_key_packet(data[:16]) or data[8:12] == b"KBXf":
        return [gnupg_findings]
    if data.lstrip()[:1] == b"{":
        return [json_key_findings]
    parsers: list[Any] = []
    if b"-----BEGIN" in data:
        parsers.append(recognise.pem_findings)
        if b"-----BEGIN PGP PUBLIC KEY BLOCK" in data or b"-----BEGIN PGP PRIVATE KEY" in data:
            parsers.append(gnupg_findings)
    if is_env_name(path):
        parsers.append(env_findings)
    elif is_kubeconfig(path, data):
        parsers.append(kubeconfig_findings)
    elif any(prefix.encode() in data for prefix in KEY_TYPE_PREFIXES):
        parsers.append(ssh_public_findings)
    return parsers


_PIECES = st.sampled_from(
    [
        b"\x30", b"\x99\x01\x0d\x04", b"\xfe\xed\xfe\xed", b"PuTTY-User-Key-File-2: ",
        b"  \n{", b"{", b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN PGP PUBLIC KEY BLOCK",
        b"-----BEGIN PGP PRIVATE KEY", b"-----BEGIN PGP SIGNATURE", b"ssh-ed25519 ",
        b"sk-ssh-ed25519@openssh.com ", b"ecdsa-sha2-nistp256 ", b"sk-ecdsa-sha2", b"ecdsa-",
        b"apiVersion: v1\n", b"kind: Config\n", b"\x00" * 8 + b"KBXf", b"-", b"x", b"\n",
    ]
)  # fmt: skip
_PATHS = st.sampled_from(
    ["a/x.pem", "a/.env", "a/app.env", "h/.kube/config", "a/kubeconfig.yaml", "a/id_rsa", "k"]
)


@FAST
@given(pieces=st.lists(_PIECES, min_size=1, max_size=6), path=_PATHS)
def test_dispatch_agrees_with_testing_everything(pieces: list[bytes], path: str) -> None:
    data = b"".join(pieces)
    assert recognise._parsers(path, data) == _reference_parsers(path, data)


# ----------------------------------------------------------------------------- SSH lines
def _blobs() -> list[bytes]:
    keys: list[ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey] = [
        ed25519.Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
    ]
    lines = [
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        for key in keys
    ]
    return [base64.b64decode(line.split()[1]) for line in lines]


def test_blob_start_is_how_real_blobs_start() -> None:
    for blob in _blobs():
        key_type = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode()
        assert base64.b64encode(blob).decode().startswith(_blob_start(key_type))
        line = f"{key_type} {base64.b64encode(blob).decode()} me@host"
        keys, count = key_lines(line + "\n" + line.replace(key_type, "ssh-dss", 1))
        assert count == 2 and [facts.key_type for _p, facts, _c in keys] == [key_type]


@FAST
@given(key_type=st.text(min_size=0, max_size=40), tail=st.binary(max_size=12))
def test_blob_start_is_a_prefix_of_any_blob_of_its_type(key_type: str, tail: bytes) -> None:
    name = key_type.encode()
    blob = len(name).to_bytes(4, "big") + name + tail
    assert base64.b64encode(blob).decode().startswith(_blob_start(key_type))


# ----------------------------------------------------------------------------- document
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _findings() -> list[Finding]:
    return [
        Finding(kind="env_file", path="a/.env", count=2, names=("A_KEY",), secret=True),
        Finding(
            kind="certificate",
            path="a/c.pem",
            not_before=datetime(2020, 1, 1, tzinfo=UTC),
            not_after=datetime(2026, 6, 10, tzinfo=UTC),
            is_ca=False,
            sans=("a", "b"),
            size=0,
            encrypted=False,
        ),
        Finding(kind="private_key", path="a/k.pem", format="PEM PKCS#8", flags=("unencrypted",)),
    ]


def test_compact_finding_leaves_out_exactly_the_empty_fields() -> None:
    for finding in _findings():
        full = finding.to_dict()
        assert compact_finding(finding) == {
            name: value for name, value in full.items() if value is not None and value != []
        }


def test_compacted_forms_are_reused_only_for_the_same_finding() -> None:
    # The last one loses its only flag to linking (it expires long after NOW).
    far = datetime(2099, 1, 1, tzinfo=UTC)
    findings = [
        *_findings(),
        Finding(
            kind="certificate", path="b/ca.pem", not_after=far, is_ca=True, flags=("expiring",)
        ),
    ]
    forms = {id(f): (f, compact_finding(f)) for f in findings}
    by_path = {f.path: [f] for f in findings}
    plain = assemble(by_path, NOW)
    assert plain == encode_document(link(findings, NOW), NOW)
    # Linking changes some findings' flags: their forms are the cached ones with the
    # flags replaced, and the document is the same to the byte.
    assert any(new is not old for new, old in zip(link(findings, NOW), findings, strict=True))
    assert assemble(by_path, NOW, forms) == plain
    stale = {id(findings[0]): (findings[1], {"kind": "wrong"})}  # another object: unused
    assert assemble(by_path, NOW, stale) == plain
    control = {id(f): (f, {**form, "kind": "marker"}) for f, form in forms.values()}
    assert assemble(by_path, NOW, control) != plain
    Inventory(findings=findings, created=NOW)  # (the type the documents describe)


def test_binascii_strict_mode_is_what_pem_used() -> None:
    with pytest.raises(binascii.Error):
        binascii.a2b_base64(b"AB=C", strict_mode=True)


# ----------------------------------------------------------------------------- imports
def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_backing_up_and_reading_inventories_load_no_recogniser() -> None:
    heavy = {"keyark.inventory.recognise", "cryptography.x509"}
    quiet = "import keyark.archiver.backup, keyark.inventory.model, keyark.repo.inventory"
    assert not heavy & _loaded_after(quiet)
    assert heavy <= _loaded_after("from keyark.inventory.model import recognise")  # control
