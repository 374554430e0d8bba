"""`make demo`: a real backup, listing, check and restore of sample key material.

Runs the installed `keyark` command step by step, printing each command and its
output, then compares the restored tree with the original (content and modes).
"""

from __future__ import annotations

import datetime
import filecmp
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "demo-work"
KEYARK = str(Path(sys.executable).with_name("keyark"))


def write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def make_sample(source: Path) -> None:
    """TLS key and certificate, SSH key, .env, service-account JSON, kubeconfig."""
    tls_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "demo.keyark.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(tls_key, hashes.SHA256())
    )
    write(
        source / "tls" / "demo.key",
        tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write(source / "tls" / "demo.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    ssh_key = ed25519.Ed25519PrivateKey.generate()
    write(
        source / "ssh" / "id_ed25519",
        ssh_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    write(
        source / "ssh" / "id_ed25519.pub",
        ssh_key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b" demo@keyark\n",
        0o644,
    )
    write(
        source / "app" / ".env",
        f"DATABASE_URL=postgres://app:{secrets.token_urlsafe(18)}@db/app\n"
        f"API_TOKEN={secrets.token_hex(24)}\n",
    )
    write(
        source / "gcp" / "service-account.json",
        json.dumps(
            {
                "type": "service_account",
                "project_id": "keyark-demo",
                "private_key_id": secrets.token_hex(20),
                "client_email": "backup@keyark-demo.iam.gserviceaccount.com",
            },
            indent=2,
        ),
    )
    write(
        source / "kube" / "config",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: demo\n  cluster:\n"
        f"    server: https://127.0.0.1:6443\nusers:\n- name: admin\n  user:\n"
        f"    token: {secrets.token_hex(32)}\n",
    )
    os.symlink("demo.crt", source / "tls" / "current.crt")


def run(step: str, *args: str, env: dict[str, str]) -> str:
    print(f"\n==> {step}\n$ keyark {' '.join(args)}", flush=True)
    result = subprocess.run([KEYARK, *args], env=env, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    print(output.rstrip())
    if result.returncode != 0:
        sys.exit(f"demo failed: 'keyark {' '.join(args)}' exited with {result.returncode}")
    return result.stdout


def compare(original: Path, restored: Path) -> list[str]:
    problems: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(original):
        for name in filenames:
            a = Path(dirpath) / name
            b = restored / a.relative_to(original)
            sa, sb = a.lstat(), b.lstat() if b.is_symlink() or b.exists() else None
            if sb is None:
                problems.append(f"missing: {b}")
            elif stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
                problems.append(f"mode differs: {b}")
            elif a.is_symlink():
                if os.readlink(a) != os.readlink(b):
                    problems.append(f"link differs: {b}")
            elif not filecmp.cmp(a, b, shallow=False):
                problems.append(f"content differs: {b}")
    return problems


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(mode=0o700)
    source, repo, target = WORK / "keys", WORK / "repo", WORK / "restore"
    make_sample(source)
    password_file = WORK / "passphrase"
    write(password_file, secrets.token_urlsafe(24))
    env = dict(os.environ)
    env.pop("KEYARK_PASSWORD", None)
    env.update(
        KEYARK_REPOSITORY=str(repo),
        KEYARK_PASSWORD_FILE=str(password_file),
        KEYARK_CACHE_DIR=str(WORK / "cache"),
    )
    print(f"sample key material in {source}; repository {repo}; passphrase in {password_file}")
    run("create the repository", "init", env=env)
    run("first backup", "backup", str(source), "--tag", "demo", env=env)
    run("second backup: nothing new to store", "backup", str(source), "--tag", "demo", env=env)
    run("list snapshots", "snapshots", env=env)
    run("list files of the latest snapshot", "ls", "latest", "--long", env=env)
    run("verify every byte in the repository", "check", "--read-data", env=env)
    run("restore and verify", "restore", "latest", "--target", str(target), "--verify", env=env)
    problems = compare(source, target / source.relative_to("/"))
    print("\n==> compare restored tree with the original")
    if problems:
        print("\n".join(problems))
        sys.exit("demo failed: the restored tree differs")
    print("restored tree is identical to the original (content, modes, symlinks)")


if __name__ == "__main__":
    main()
