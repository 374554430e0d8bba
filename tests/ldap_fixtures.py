"""A real OpenLDAP server (Debian's ``slapd``) for tests, on 127.0.0.1 and a free port.

``running_slapd(directory)`` writes a ``slapd.conf`` (mdb database ``dc=example,dc=org``,
root ``cn=admin`` with :data:`ADMIN_PASSWORD`), starts ``slapd -d 0`` in the foreground,
waits until it answers a bind, loads :data:`PEOPLE` and :data:`GROUPS` with ``ldapadd``,
and yields its URL; the process is stopped afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "slapd admin password"
PEOPLE_BASE = f"ou=people,{SUFFIX}"
GROUP_BASE = f"ou=groups,{SUFFIX}"
#: uid -> password.
PEOPLE = {
    "ada": "ada password",
    "otto": "otto password",
    "nick": "nick password",
}
#: group cn -> member uids.
GROUPS = {"admins": ["ada"], "operators": ["otto"], "auditors": ["otto", "ada"]}
SLAPD = "/usr/sbin/slapd"
SCHEMAS = ("core", "cosine", "inetorgperson")


@dataclass(frozen=True)
class Slapd:
    """A running slapd: its URL and data directory."""

    url: str
    directory: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUP_BASE}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, password in PEOPLE.items():
        entries.append(
            f"dn: uid={uid},{PEOPLE_BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid.title()}\nsn: {uid.title()}\nuserPassword: {password}"
        )
    for group, members in GROUPS.items():
        lines = [f"dn: cn={group},{GROUP_BASE}", "objectClass: groupOfNames", f"cn: {group}"]
        lines += [f"member: uid={uid},{PEOPLE_BASE}" for uid in members]
        entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n"


def _answers(url: str, password_file: Path) -> bool:
    done = subprocess.run(
        ["ldapwhoami", "-x", "-H", url, "-D", ADMIN_DN, "-y", str(password_file)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@contextmanager
def running_slapd(directory: Path, *, timeout: float = 30.0) -> Iterator[Slapd]:
    """Start slapd over ``directory`` (see the module); stop it afterwards."""
    if not Path(SLAPD).exists() or shutil.which("ldapadd") is None:
        pytest.skip("slapd and ldap-utils are not installed")
    data = directory / "data"
    data.mkdir(parents=True)
    password_file = directory / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    password_file.chmod(0o600)
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    conf = directory / "slapd.conf"
    conf.write_text(
        f"{includes}\n"
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        f"pidfile {directory / 'slapd.pid'}\n"
        "database mdb\n"
        f'suffix "{SUFFIX}"\nrootdn "{ADMIN_DN}"\nrootpw "{ADMIN_PASSWORD}"\n'
        f"directory {data}\nmaxsize 10485760\n"
        "access to attrs=userPassword by self =xw by anonymous auth by * none\n"
        "access to * by * read\n"
    )
    url = f"ldap://127.0.0.1:{_free_port()}"
    log = (directory / "slapd.log").open("wb")
    process = subprocess.Popen(
        [SLAPD, "-d", "0", "-f", str(conf), "-h", f"{url}/"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url, password_file):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "slapd did not start: " + (directory / "slapd.log").read_text()[-2000:]
                )
            time.sleep(0.05)
        ldif = directory / "entries.ldif"
        ldif.write_text(_ldif())
        subprocess.run(
            ["ldapadd", "-x", "-H", url, "-D", ADMIN_DN, "-y", str(password_file),
             "-f", str(ldif)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        yield Slapd(url, directory)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


__all__ = [
    "ADMIN_DN",
    "ADMIN_PASSWORD",
    "GROUPS",
    "GROUP_BASE",
    "PEOPLE",
    "PEOPLE_BASE",
    "Slapd",
    "running_slapd",
]
