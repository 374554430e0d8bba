"""``keyark key ...`` end to end through the installed command: every slot kind and bad input.

Each bad input must give one ``keyark: ...`` line on stderr, a non-zero exit code, no
secret in the output, and leave every repository object (name and content) unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tests.hsm as softhsm_support
from tests.conftest import CLI, PASSWORD
from tests.hsm import AES_KEY, OTHER_AES_KEY, RSA_KEY, SoftHSM

softhsm = softhsm_support.softhsm  # the session fixture
NO_PASSWORD = {"KEYARK_PASSWORD": ""}


def state(repo: Path) -> dict[str, str]:
    """Every object's digest, but the audit log's (a refusal is audited, by design)."""
    return {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and p.relative_to(repo).parts[0] != "audit"
    }


def refused(
    cli: CLI,
    code: int,
    *args: str,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
    says: str = "",
    secrets: tuple[str, ...] = (),
) -> str:
    """Run a command that must be refused; return its one error line."""
    before = state(cli.repo)
    saved = {name: cli.env.pop(name) for name in unset if name in cli.env}
    try:
        result = cli.run(*args, env=env)
    finally:
        cli.env.update(saved)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keyark: "), result.stderr
    assert "Traceback" not in result.stderr
    for secret in (PASSWORD, *secrets):
        assert secret not in result.stderr and secret not in result.stdout
    assert says in lines[0], lines[0]
    assert state(cli.repo) == before, f"{args} changed the repository"
    return lines[0]


def keys_json(cli: CLI, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(
        cli.run("key", "list", "--json", *args, env=env, check=True).stdout
    )
    return listed


def without_password(
    cli: CLI, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    saved = cli.env.pop("KEYARK_PASSWORD")
    try:
        return cli.run(*args, env=env)
    finally:
        cli.env["KEYARK_PASSWORD"] = saved


def test_passphrase_slots_and_pbkdf2(cli: CLI) -> None:
    cli.run("init", check=True)
    added = cli.run(
        "key",
        "add",
        "--kdf",
        "pbkdf2",
        "--label",
        "fips",
        "--json",
        env={"KEYARK_NEW_PASSWORD": "second passphrase"},
        check=True,
    )
    slot = json.loads(added.stdout)
    assert slot["kind"] == "passphrase" and slot["details"]["iterations"] == 600_000
    listed = keys_json(cli, env={"KEYARK_PASSWORD": "second passphrase"})
    current = [k for k in listed if k["current"]]
    assert len(listed) == 2 and [k["id"] for k in current] == [slot["id"]]
    assert current[0]["label"] == "fips" and current[0]["details"]["kdf"] == "pbkdf2-sha256"
    plain = cli.run("key", "list", check=True).stdout
    assert "pbkdf2-sha256, 600000 iterations" in plain
    assert re.search(r"argon2id, t=\d+ m=\d+MiB p=1", plain)
    assert "salt" not in json.dumps(listed)
    removed = cli.run("key", "remove", str(slot["id"])[:8], check=True)
    assert "removed passphrase key slot" in removed.stdout
    refused(cli, 12, "snapshots", env={"KEYARK_PASSWORD": "second passphrase"})
    only = keys_json(cli)[0]["id"]
    refused(cli, 1, "key", "remove", str(only), "--force", says="is the last one")


def test_key_file_slot_end_to_end(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    key = tmp_path / "keys" / "backup.key"
    key.parent.mkdir()
    out = cli.run("key", "add", "--key-file", str(key), check=True).stdout
    assert "added keyfile key slot" in out and str(key) in out
    assert (key.stat().st_mode & 0o777) == 0o600 and key.stat().st_size == 32
    # Opens with the key file alone: flag before or after the verb, or the environment.
    for args, env in (
        (["--key-file", str(key), "snapshots", "--json"], None),
        (["snapshots", "--json", "--key-file", str(key)], None),
        (["snapshots", "--json"], {"KEYARK_KEY_FILE": str(key)}),
    ):
        result = without_password(cli, *args, env=env)
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)) == 1
    dumped = without_password(
        cli, "--key-file", str(key), "dump", "latest", str(source / "id_ed25519")
    )
    assert dumped.stdout.startswith("-----BEGIN OPENSSH")
    current = [k for k in keys_json(cli, "--key-file", str(key)) if k["current"]]
    assert current[0]["kind"] == "keyfile"
    # A second key file made while opened with the first ('--key-file' before the verb).
    second = tmp_path / "keys" / "second.key"
    cli.run("--key-file", str(key), "key", "add", "--key-file", str(second), check=True)
    assert without_password(cli, "--key-file", str(second), "snapshots").returncode == 0


def test_key_file_bad_input(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    key = tmp_path / "backup.key"
    cli.run("key", "add", "--key-file", str(key), check=True)
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    wrong.chmod(0o600)
    # The passphrase in KEYARK_PASSWORD is not used when a key file is given.
    line = refused(cli, 12, "--key-file", str(wrong), "snapshots")
    assert "the key file opens no key slot" in line
    key.chmod(0o644)
    refused(cli, 1, "snapshots", "--key-file", str(key), says="accessible by group or others")
    key.chmod(0o600)
    refused(cli, 1, "snapshots", "--key-file", str(tmp_path / "nope"), says="cannot read key file")
    short = tmp_path / "short.key"
    short.write_bytes(b"0" * 16)
    short.chmod(0o600)
    refused(cli, 1, "snapshots", "--key-file", str(short), says="not a keyark key file")
    original = key.read_bytes()
    refused(cli, 1, "key", "add", "--key-file", str(key), says="already exists")
    assert key.read_bytes() == original


def test_pkcs11_slots_end_to_end(cli: CLI, softhsm: SoftHSM) -> None:
    cli.env.update(softhsm.env())
    cli.run("init", check=True)
    hsm = ["--pkcs11-module", softhsm.module, "--pkcs11-token", softhsm.token]
    aes = json.loads(
        cli.run("key", "add", *hsm, "--pkcs11-key", AES_KEY, "--json", check=True).stdout
    )
    assert aes["details"]["mechanism"] == "aes-key-wrap-pad"
    rsa = json.loads(
        cli.run(
            "key",
            "add",
            *hsm,
            "--pkcs11-key",
            RSA_KEY,
            "--pkcs11-mechanism",
            "rsa-oaep-sha1",
            "--json",
            check=True,
        ).stdout
    )
    assert rsa["details"]["mechanism"] == "rsa-oaep-sha1"
    # Opening needs only the module and the PIN: token and key come from the slots.
    opened = without_password(cli, "key", "list", "--json", "--pkcs11-module", softhsm.module)
    assert opened.returncode == 0, opened.stderr
    current = [k for k in json.loads(opened.stdout) if k["current"]]
    assert current[0]["kind"] == "pkcs11"
    # Naming the RSA key picks its slot.
    by_rsa = without_password(cli, *hsm, "--pkcs11-key", RSA_KEY, "key", "list", "--json")
    assert [k["id"] for k in json.loads(by_rsa.stdout) if k["current"]] == [rsa["id"]]
    plain = cli.run("key", "list", check=True).stdout
    assert f"token {softhsm.token}, key {AES_KEY}, aes-key-wrap-pad" in plain
    assert "wrapped_kek" not in opened.stdout and softhsm.pin not in plain + opened.stdout


def test_pkcs11_bad_input(cli: CLI, softhsm: SoftHSM) -> None:
    cli.env.update(softhsm.env())
    cli.run("init", check=True)
    hsm = ["--pkcs11-module", softhsm.module, "--pkcs11-token", softhsm.token]
    cli.run("key", "add", *hsm, "--pkcs11-key", AES_KEY, check=True)
    unset = ("KEYARK_PASSWORD",)
    refused(
        cli,
        12,
        "snapshots",
        *hsm,
        env={"KEYARK_PKCS11_PIN": "999999"},
        unset=unset,
        says="PKCS#11 PIN rejected by token",
        secrets=("999999",),
    )
    refused(
        cli,
        1,
        "snapshots",
        "--pkcs11-module",
        "/opt/none/libpkcs11.so",
        unset=unset,
        says="PKCS#11 module /opt/none/libpkcs11.so does not exist",
    )
    refused(
        cli,
        12,
        "snapshots",
        "--pkcs11-module",
        softhsm.module,
        "--pkcs11-token",
        "absent",
        "--pkcs11-key",
        AES_KEY,
        unset=unset,
        says="no key slot of this repository accepts",
    )
    refused(
        cli,
        12,
        "snapshots",
        *hsm,
        "--pkcs11-key",
        OTHER_AES_KEY,
        unset=unset,
        says="no key slot of this repository accepts the PKCS#11 key",
    )
    refused(
        cli,
        1,
        "snapshots",
        *hsm,
        unset=("KEYARK_PASSWORD", "KEYARK_PKCS11_PIN"),
        says="KEYARK_PKCS11_PIN",
    )
    # Adding: token/key not found, SHA-256 OAEP on SoftHSM, wrong PIN, missing module.
    refused(
        cli,
        1,
        "key",
        "add",
        "--pkcs11-module",
        softhsm.module,
        "--pkcs11-token",
        "absent",
        "--pkcs11-key",
        AES_KEY,
        says="no PKCS#11 token labelled 'absent'",
    )
    refused(cli, 1, "key", "add", *hsm, "--pkcs11-key", "nokey", says="no AES or RSA key")
    refused(
        cli,
        1,
        "key",
        "add",
        *hsm,
        "--pkcs11-key",
        RSA_KEY,
        says="rejected rsa-oaep-sha256; this token lacks SHA-256 OAEP",
    )
    refused(
        cli,
        12,
        "key",
        "add",
        *hsm,
        "--pkcs11-key",
        AES_KEY,
        env={"KEYARK_PKCS11_PIN": "1"},
        says="PIN rejected",
    )
    refused(
        cli,
        1,
        "key",
        "add",
        "--pkcs11-module",
        "/opt/none/lib.so",
        "--pkcs11-token",
        "t",
        "--pkcs11-key",
        "k",
        says="/opt/none/lib.so does not exist",
    )
    refused(cli, 1, "key", "add", "--pkcs11-module", softhsm.module, says="needs --pkcs11-token")


def test_split_and_recover_end_to_end(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    out_dir = tmp_path / "shares"
    made = json.loads(
        cli.run(
            "key",
            "split",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--out-dir",
            str(out_dir),
            "--json",
            check=True,
        ).stdout
    )
    files = [Path(f) for f in made["files"]]
    assert [f.name for f in files] == [f"share-{i}-of-5.txt" for i in range(1, 6)]
    assert (out_dir.stat().st_mode & 0o777) == 0o700
    assert all((f.stat().st_mode & 0o777) == 0o600 for f in files)
    assert "mnemonics" not in made
    recovered = without_password(
        cli,
        "key",
        "recover",
        *[a for f in (files[4], files[1], files[2]) for a in ("--share-file", str(f))],
        env={"KEYARK_NEW_PASSWORD": "recovered passphrase"},
    )
    assert recovered.returncode == 0, recovered.stderr
    assert "recovered: added passphrase key slot" in recovered.stdout
    listed = keys_json(cli, env={"KEYARK_PASSWORD": "recovered passphrase"})
    assert sorted(str(k["kind"]) for k in listed) == ["passphrase", "passphrase", "recovery"]
    assert any(
        k["details"]
        == {"scheme": "slip39", "threshold": 3, "shares": 5, "identifier": made["identifier"]}
        for k in listed
    )
    # Without --out-dir the shares are printed.
    printed = cli.run("key", "split", "--shares", "3", "--threshold", "2", check=True).stdout
    assert printed.count("share ") >= 3 and "share 3 of 3:" in printed


def test_recovery_bad_input(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    first = json.loads(
        cli.run("key", "split", "--shares", "3", "--threshold", "2", "--json", check=True).stdout
    )
    second = json.loads(
        cli.run("key", "split", "--shares", "3", "--threshold", "2", "--json", check=True).stdout
    )
    shares_dir = tmp_path / "in"
    shares_dir.mkdir()

    def write(name: str, text: str) -> str:
        (shares_dir / name).write_text(text + "\n")
        return str(shares_dir / name)

    a1 = write("a1", first["mnemonics"][0])
    b2 = write("b2", second["mnemonics"][1])
    new = {"KEYARK_NEW_PASSWORD": "whatever"}
    unset = ("KEYARK_PASSWORD",)
    refused(
        cli,
        1,
        "key",
        "recover",
        "--share-file",
        a1,
        env=new,
        unset=unset,
        says=f"need 2 shares of split {first['identifier']}, got 1",
    )
    if first["identifier"] != second["identifier"]:
        refused(
            cli,
            1,
            "key",
            "recover",
            "--share-file",
            a1,
            "--share-file",
            b2,
            env=new,
            unset=unset,
            says="share 2 comes from a different split",
        )
    words = first["mnemonics"][1].split()
    original = words[6]
    words[6] = "academic" if original != "academic" else "acid"
    typo = write("typo", " ".join(words))
    line = refused(
        cli,
        1,
        "key",
        "recover",
        "--share-file",
        a1,
        "--share-file",
        typo,
        env=new,
        unset=unset,
        says="share 2: word 7 ",
    )
    assert f"fits {original!r}" in line
    refused(cli, 1, "key", "recover", env=new, unset=unset, says="--share-file")
    refused(
        cli,
        1,
        "key",
        "recover",
        "--share-file",
        str(tmp_path / "missing"),
        env=new,
        unset=unset,
        says="cannot read share file",
    )
    refused(cli, 1, "key", "split", "--shares", "2", "--threshold", "3", says="threshold")
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o755)
    refused(
        cli,
        1,
        "key",
        "split",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--out-dir",
        str(public),
        says="accessible by group or others",
    )
    assert list(public.iterdir()) == []


def test_remove_bad_input(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    only = str(keys_json(cli)[0]["id"])
    refused(cli, 1, "key", "remove", only, says="is the last one")
    refused(cli, 1, "key", "remove", only, "--force", says="is the last one")
    cli.run("key", "add", "--key-file", str(tmp_path / "k"), check=True)
    refused(cli, 1, "key", "remove", only[:8], says="opened the repository now; use --force")
    refused(cli, 1, "key", "remove", "abc", says="at least 4 characters")
    refused(cli, 1, "key", "remove", "zzzzzzzz", says="no key slot zzzzzzzz")
    refused(cli, 12, "key", "remove", only, env={"KEYARK_PASSWORD": "wrong"})
    assert "removed" in cli.run("key", "remove", only, "--force", check=True).stdout
    assert without_password(cli, "--key-file", str(tmp_path / "k"), "snapshots").returncode == 0


@pytest.mark.parametrize("verb", ["list", "add", "remove", "passwd", "split", "recover"])
def test_every_key_verb_has_help(cli: CLI, verb: str) -> None:
    result = cli.run("key", verb, "--help", check=True)
    assert "Usage: keyark key " + verb in result.stdout


def _run_on_terminal(argv: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its controlling terminal, answering prompts."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is now stdin/stdout/stderr and /dev/tty
        os.execve(argv[0], argv, env)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if pending and output.rstrip().endswith(b":"):
            os.write(fd, pending.pop(0).encode() + b"\n")
            output += b"<answered>\n"
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_recover_prompts_for_shares_on_a_terminal(cli: CLI) -> None:
    from tests.conftest import keyark_binary

    cli.run("init", check=True)
    made = json.loads(
        cli.run("key", "split", "--shares", "3", "--threshold", "2", "--json", check=True).stdout
    )
    first, second = made["mnemonics"][0], made["mnemonics"][2]
    typo = first.split()
    typo[3] = "xylophonx"
    env = {k: v for k, v in cli.env.items() if k != "KEYARK_PASSWORD"}
    env["KEYARK_NEW_PASSWORD"] = "typed recovery"
    code, screen = _run_on_terminal(
        [keyark_binary(), "key", "recover"], env, [" ".join(typo), first, second]
    )
    assert code == 0, screen
    assert "word 4 'xylophonx' is not a SLIP-39 word" in screen and "type it again" in screen
    assert "recovered: added passphrase key slot" in screen
    assert first not in screen  # shares are typed at a hidden prompt
    listed = keys_json(cli, env={"KEYARK_PASSWORD": "typed recovery"})
    assert sum(1 for k in listed if k["kind"] == "passphrase") == 2


def test_key_add_option_conflicts(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    key = str(tmp_path / "k")
    refused(cli, 1, "key", "add", "--key-file", key, "--kdf", "pbkdf2", says="--kdf applies")
    refused(cli, 1, "key", "add", "--key-file", key, "--pkcs11-module", "/x.so", says="not both")
    refused(cli, 1, "key", "add", "--pkcs11-token", "t", says="need --pkcs11-module")
    assert not Path(key).exists()
