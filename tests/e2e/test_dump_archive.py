"""``keyark dump`` of directories as tar and zip archives, to a file or a pipe, never a terminal.

Through the installed command: archives compared with the source tree (GNU tar extracts
the tar, zipfile reads the zip), hard links, non-UTF-8 names, ``--target`` files and
their modes, the refusal to write binary output to a pseudo-terminal, ``--host`` for
``latest`` and ``SNAPSHOT:DIR``.
"""

from __future__ import annotations

import io
import os
import pty
import select
import stat
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree, tree_state

#: A name that is not UTF-8 (Linux names are bytes).
RAW_NAME = b"legacy-\xff\xfe.key"
#: An mtime with nanoseconds (PAX keeps them).
FINE_NS = 1_700_000_000_123_456_789


def _source(root: Path) -> Path:
    """make_tree plus a hard link, a non-UTF-8 name and a nanosecond mtime."""
    source = make_tree(root)
    os.link(source / "tls" / "server.key", source / "ssh" / "server.key.link")
    raw = os.fsencode(source / "tls") + b"/" + RAW_NAME
    with open(raw, "wb") as handle:
        handle.write(b"raw-named key\n")
    os.chmod(raw, 0o640)
    os.utime(source / "tls" / "server.crt", ns=(FINE_NS, FINE_NS))
    os.utime(source / "tls", ns=(FINE_NS, FINE_NS))
    return source


def _backed_up(cli: CLI, tmp_path: Path, host: str = "alpha") -> Path:
    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", "--host", host, str(source), check=True)
    return source


def _run(cli: CLI, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``keyark`` with binary stdout captured."""
    return subprocess.run(
        [keyark_binary(), *args], env=cli.env, capture_output=True, check=False, timeout=300
    )


def _name_of(path: Path) -> str:
    """The archive name of a snapshot path (restic's: no leading '/')."""
    return str(path).lstrip("/")


def test_tar_round_trip_keeps_names_modes_times_and_hard_links(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    done = _run(cli, "dump", "latest", str(source))
    assert done.returncode == 0, done.stderr
    archive = tmp_path / "dump.tar"
    archive.write_bytes(done.stdout)

    with tarfile.open(archive, encoding="utf-8", errors="surrogateescape") as tar:
        members = {os.fsencode(m.name): m for m in tar.getmembers()}
    prefix = os.fsencode(_name_of(source))
    assert members[prefix].isdir() and members[prefix].mode == stat.S_IMODE(source.stat().st_mode)
    key = members[prefix + b"/tls/server.key"]
    link = members[prefix + b"/ssh/server.key.link"]
    # The walk meets ssh/ before tls/: the first link carries the content.
    assert link.isfile() and link.size == len((source / "tls" / "server.key").read_bytes())
    assert key.islnk() and os.fsencode(key.linkname) == prefix + b"/ssh/server.key.link"
    assert members[prefix + b"/tls/" + RAW_NAME].mode == 0o640
    crt = members[prefix + b"/tls/server.crt"]
    assert crt.pax_headers["mtime"] == "1700000000.123456789"
    assert members[prefix + b"/current.crt"].issym()
    assert members[prefix + b"/current.crt"].linkname == "tls/server.crt"
    st = (source / "ssh" / "id_ed25519").stat()
    ssh_key = members[prefix + b"/ssh/id_ed25519"]
    assert (ssh_key.mode, ssh_key.uid, ssh_key.gid) == (0o600, st.st_uid, st.st_gid)

    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(out)], check=True)
    extracted = out / source.relative_to("/")
    assert tree_state(extracted) == tree_state(source)
    first, second = extracted / "tls" / "server.key", extracted / "ssh" / "server.key.link"
    assert first.stat().st_ino == second.stat().st_ino and first.stat().st_nlink == 2


def _zip_mtime(info: zipfile.ZipInfo) -> int | None:
    """The UTC mtime of Info-ZIP's extended-timestamp field."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        if kind == 0x5455:
            return int(struct.unpack("<i", extra[5:9])[0])
        extra = extra[4 + size :]
    return None


def test_zip_round_trip_keeps_content_unix_modes_and_raw_names(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    done = _run(cli, "dump", "latest", str(source), "--archive", "zip")
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(io.BytesIO(done.stdout)) as archive:
        # A name without the UTF-8 flag is read as cp437: its bytes are the name's.
        infos = {
            i.filename.encode("utf-8" if i.flag_bits & 0x800 else "cp437"): i
            for i in archive.infolist()
        }
        prefix = os.fsencode(_name_of(source)) + b"/"
        seen = set()
        for dirpath, dirnames, filenames in os.walk(os.fsencode(source)):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, os.fsencode(source))
                st = os.lstat(path)
                key = prefix + rel + (b"/" if stat.S_ISDIR(st.st_mode) else b"")
                info = infos[key]
                seen.add(key)
                assert info.external_attr >> 16 == st.st_mode, key
                assert _zip_mtime(info) == st.st_mtime_ns // 1_000_000_000, key
                if stat.S_ISLNK(st.st_mode):
                    assert archive.read(info) == os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as handle:
                        assert archive.read(info) == handle.read(), key
    assert seen == set(infos) - {prefix}
    assert infos[prefix].external_attr >> 16 == source.stat().st_mode


def test_dump_refuses_binary_output_to_a_terminal(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    for args, what in (
        ((str(source),), "a tar archive"),
        ((str(source), "--archive", "zip"), "a zip archive"),
        ((str(source / "ssh" / "id_ed25519"),), "the binary content"),
    ):
        code, shown, stderr = _on_terminal(cli, "dump", "latest", *args)
        assert code == 1, (args, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("keyark: refusing to write "), stderr
        assert what in lines[0] and "--target FILE" in lines[0]
        assert shown == b""
    # Positive control: text (a PEM key) is shown on the terminal, as restic does.
    code, shown, stderr = _on_terminal(cli, "dump", "latest", str(source / "tls" / "server.crt"))
    assert code == 0, stderr
    assert b"BEGIN CERTIFICATE" in shown


def _on_terminal(cli: CLI, *args: str) -> tuple[int, bytes, str]:
    """Run keyark with stdout on a pseudo-terminal: (exit code, what it showed, stderr)."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [keyark_binary(), *args], env=cli.env, stdout=slave, stderr=subprocess.PIPE
        )
        os.close(slave)
        _, stderr = process.communicate(timeout=300)
        shown = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                block = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not block:
                break
            shown += block
    finally:
        os.close(master)
    return process.returncode, shown, stderr.decode()


def test_target_writes_a_private_file_and_replaces_it_whole(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    os.chmod(source / "tls" / "server.key", 0o400)
    os.chmod(source / "tls" / "server.crt", 0o644)
    cli.run("backup", "--host", "alpha", str(source), check=True)
    out = tmp_path / "out"
    out.mkdir()

    crt = out / "server.crt"
    crt.write_bytes(b"old content that is longer than the certificate" * 10)
    os.chmod(crt, 0o666)
    done = cli.run("dump", "latest", str(source / "tls" / "server.crt"), "--target", str(crt))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert crt.read_bytes() == (source / "tls" / "server.crt").read_bytes()
    assert stat.S_IMODE(crt.stat().st_mode) == 0o600  # never wider than 0600
    key = out / "server.key"
    cli.run("dump", "latest", str(source / "tls" / "server.key"), "-t", str(key), check=True)
    assert stat.S_IMODE(key.stat().st_mode) == 0o400  # never wider than the file's own

    tar_file = out / "tree.tar"
    cli.run("dump", "latest", str(source / "ssh"), "--target", str(tar_file), check=True)
    assert stat.S_IMODE(tar_file.stat().st_mode) == 0o600
    with tarfile.open(tar_file) as tar:
        member = tar.extractfile(_name_of(source / "ssh" / "id_ed25519"))
        assert member is not None
        assert member.read() == (source / "ssh" / "id_ed25519").read_bytes()

    zip_file = out / "tree.zip"
    cli.run("dump", "latest", str(source), "-a", "zip", "-t", str(zip_file), check=True)
    with zipfile.ZipFile(zip_file) as archive:
        assert archive.read(_name_of(source / "big.bin")) == (source / "big.bin").read_bytes()

    # A failed dump leaves the existing target as it was and nothing half-written.
    before = sorted(p.name for p in out.iterdir())
    failed = cli.run("dump", "latest", str(source / "nope"), "--target", str(crt))
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert crt.read_bytes() == (source / "tls" / "server.crt").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == before

    for target, words in ((out, "is a directory"), (out / "no" / "f", "does not exist")):
        refused = cli.run("dump", "latest", str(source / "empty"), "--target", str(target))
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert refused.returncode == 1 and len(lines) == 1 and words in lines[0], refused.stderr
        assert PASSWORD not in refused.stderr


def test_host_filter_and_subfolder_choose_what_latest_dumps(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path, host="alpha")
    key = source / "tls" / "server.key"
    alpha = key.read_bytes()
    os.unlink(source / "ssh" / "server.key.link")
    key.write_bytes(b"rotated by beta\n")
    cli.run("backup", "--host", "beta", str(source), check=True)

    assert _run(cli, "dump", "latest", str(key)).stdout == b"rotated by beta\n"
    assert _run(cli, "dump", "latest", str(key), "--host", "alpha").stdout == alpha
    missing = _run(cli, "dump", "latest", str(key), "--host", "gamma")
    assert missing.returncode != 0 and b"no trusted snapshot" in missing.stderr

    done = _run(cli, "dump", f"latest:{source}", "/tls", "--host", "alpha")
    assert done.returncode == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        names = tar.getnames()
        member = tar.extractfile("tls/server.key")
        assert member is not None and member.read() == alpha
    assert names[0] == "tls" and all(n.startswith("tls") for n in names)


def test_unknown_archive_format_is_one_line(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    refused = cli.run("dump", "latest", str(source), "--archive", "cpio")
    assert refused.returncode == 1 and "'cpio' is not one of 'tar', 'zip'" in refused.stderr
    assert refused.stdout == ""
