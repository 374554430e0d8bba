"""Names that are not UTF-8, and what the browsing verbs print (issue 11: bugs 1, 5, 11;
``ls``, ``find``, ``snapshots`` and ``stats`` flags), through the installed ``keyark``."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import CLI, keyark_binary

#: A non-UTF-8 name as Python holds it (surrogate escapes) and as bytes.
OLD = b"key-\xff.pem"
NEW = b"key-\xfd.pem"
DIR = b"dir-\xfe"
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _raw(value: str) -> bytes:
    return base64.b64decode(value)


def _odd_names(cli: CLI, tmp_path: Path) -> tuple[Path, str, str]:
    """A source with non-UTF-8 names, backed up before and after a rename; the ids."""
    source = tmp_path / "src"
    source.mkdir()
    root = os.fsencode(source)
    with open(root + b"/" + OLD, "wb") as handle:
        handle.write(b"secret")
    os.mkdir(root + b"/" + DIR)
    with open(root + b"/" + DIR + b"/inner.txt", "wb") as handle:
        handle.write(b"inner")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    first = _json_lines(cli.run("snapshots", "--json", check=True).stdout)[0][0]["id"]
    os.rename(root + b"/" + OLD, root + b"/" + NEW)
    cli.run("backup", str(source), check=True)
    second = _json_lines(cli.run("snapshots", "--json", check=True).stdout)[0][-1]["id"]
    return source, first, second


def test_non_utf8_names_in_every_browsing_verb(cli: CLI, tmp_path: Path) -> None:
    source, first, second = _odd_names(cli, tmp_path)
    root = os.fsencode(source)
    shown = f"{source}/key-\\xfd.pem"

    listed = cli.run("ls", "latest", check=True).stdout
    assert shown in listed.splitlines() and f"{source}/dir-\\xfe/" in listed.splitlines()
    nodes = _json_lines(cli.run("ls", "latest", "--json", check=True).stdout)[1:]
    node = next(n for n in nodes if n.get("raw_name") == base64.b64encode(NEW).decode())
    assert node["name"] == "key-\\xfd.pem" and node["path"] == shown
    assert _raw(node["raw_path"]) == root + b"/" + NEW
    inside = cli.run("ls", "latest", os.fsdecode(root + b"/" + DIR), check=True).stdout
    assert f"{source}/dir-\\xfe/inner.txt" in inside.splitlines()

    assert cli.run("find", "key-*", check=True).stdout.splitlines() == [
        f"{source}/key-\\xff.pem",
        shown,
    ]
    exact = os.fsdecode(b"key-\xfd*")  # the argument as bytes, exactly
    found = json.loads(cli.run("find", exact, "--json", check=True).stdout)
    assert [_raw(m["raw_path"]) for g in found for m in g["matches"]] == [root + b"/" + NEW]

    changes = cli.run("diff", first, second, check=True).stdout.splitlines()
    assert f"+  {shown}" in changes and f"-  {source}/key-\\xff.pem" in changes
    document = json.loads(cli.run("diff", first, second, "--json", check=True).stdout)
    assert {(c["modifier"], _raw(c["raw_path"])) for c in document["changes"]} == {
        ("+", root + b"/" + NEW),
        ("-", root + b"/" + OLD),
    }

    assert json.loads(cli.run("stats", "--json", check=True).stdout)["files"] == 4
    assert json.loads(cli.run("catalog", "rebuild", "--json", check=True).stdout)["snapshots"] == 2
    assert "key-\\xfd.pem" in cli.run("ls", "latest", check=True).stdout  # rebuilt catalog

    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    restored = os.fsencode(target) + root
    assert sorted(os.listdir(restored)) == sorted([DIR, NEW])
    with open(restored + b"/" + NEW, "rb") as handle:
        assert handle.read() == b"secret"


def _tty(cli: CLI, *args: str, columns: int = 80) -> tuple[int, str]:
    """Run ``keyark`` on a pseudo-terminal ``columns`` wide; exit code and what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**cli.env, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [keyark_binary(), *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    code = process.wait(timeout=120)
    os.close(master)
    return code, ANSI.sub("", b"".join(chunks).decode(errors="replace")).replace("\r", "")


def test_tables_never_truncate_on_an_80_column_terminal(cli: CLI, tmp_path: Path) -> None:
    deep = tmp_path / "a-rather-long-directory-name" / "tls" / "leaf-certificates-for-services"
    deep.mkdir(parents=True)
    (deep / "leaf-server-certificate.pem").write_text("cert")
    cli.run("init", check=True)
    cli.run("backup", str(tmp_path / "a-rather-long-directory-name"), check=True)
    snapshot = _json_lines(cli.run("snapshots", "--json", check=True).stdout)[0][0]
    path = str(deep / "leaf-server-certificate.pem")
    assert len(path) > 60

    code, shown = _tty(cli, "find", "leaf-server*")
    assert code == 0 and path in shown and "…" not in shown, shown
    assert snapshot["short_id"] in shown
    code, shown = _tty(cli, "snapshots")
    assert code == 0 and "…" not in shown and snapshot["short_id"] in shown, shown
    assert str(tmp_path / "a-rather-long-directory-name") in shown
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown), shown
    code, shown = _tty(cli, "key", "list")
    created = _json_lines(cli.run("key", "list", "--json", check=True).stdout)[0][0]["created"]
    local = datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    assert code == 0 and "…" not in shown and local in shown, shown
    # A pipe: one path per line, nothing else.
    assert cli.run("find", "leaf-*", check=True).stdout.splitlines() == [
        str(deep),
        path,
    ]


def test_quiet_keeps_the_output_of_listing_verbs(cli: CLI, tmp_path: Path) -> None:
    _source, first, second = _odd_names(cli, tmp_path)
    for args in (
        ("snapshots",),
        ("ls", "latest"),
        ("find", "key-*"),
        ("diff", first, second),
        ("stats",),
        ("key", "list"),
    ):
        quiet = cli.run("-q", *args, check=True)
        assert quiet.stdout.strip(), args
        loud = cli.run(*args, check=True).stdout
        assert set(quiet.stdout.splitlines()) <= set(loud.splitlines()), args
    assert "snapshot " not in cli.run("ls", "latest", "-q", check=True).stdout  # a note


def test_ls_children_recursive_long_and_json_lines(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "tls" / "leaf").mkdir(parents=True)
    (source / "tls" / "leaf" / "a.crt").write_text("a")
    (source / "tls" / "ca.crt").write_text("ca")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    tls = str(source / "tls")
    assert cli.run("ls", "latest", tls, check=True).stdout.splitlines()[1:] == [
        f"{tls}/",
        f"{tls}/ca.crt",
        f"{tls}/leaf/",
    ]
    deep = cli.run("ls", "latest", tls, "--recursive", check=True).stdout.splitlines()
    assert f"{tls}/leaf/a.crt" in deep
    assert f"{tls}/leaf/a.crt" in cli.run("ls", "latest", check=True).stdout  # restic: all
    long = cli.run("ls", "latest", tls, "--long", check=True).stdout
    assert re.search(r"^-rw-r--r-- .* \d+ \d{4}-\d\d-\d\d .*/tls/ca\.crt$", long, re.M), long
    lines = _json_lines(cli.run("ls", "latest", tls, "--json", check=True).stdout)
    assert lines[0]["struct_type"] == lines[0]["message_type"] == "snapshot"
    assert lines[0]["hostname"] and lines[0]["paths"] == [str(source)]
    assert [(n["struct_type"], n["message_type"], n["path"]) for n in lines[1:]] == [
        ("node", "node", tls),
        ("node", "node", f"{tls}/ca.crt"),
        ("node", "node", f"{tls}/leaf"),
    ]
    assert lines[2]["permissions"].startswith("-") and lines[2]["mtime"].endswith("Z")


def test_latest_filters_and_find_selection(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.pem").write_text("a")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--host", "alpha", "--tag", "one", check=True)
    (source / "b.pem").write_text("b")
    cli.run("backup", str(source), "--host", "beta", check=True)
    snaps = _json_lines(cli.run("snapshots", "--json", check=True).stdout)[0]
    alpha, beta = snaps[0]["id"], snaps[1]["id"]

    def listing(*args: str) -> list[str]:
        return cli.run("ls", "latest", *args, check=True).stdout.splitlines()[1:]

    assert f"{source}/b.pem" in listing()
    assert f"{source}/b.pem" not in listing("--host", "alpha")
    assert f"{source}/b.pem" not in listing("--tag", "one")
    assert f"{source}/a.pem" in listing("--path", str(source), "--host", "alpha")
    missing = cli.run("ls", "latest", "--host", "gamma")
    assert missing.returncode != 0 and "host gamma" in missing.stderr
    changes = json.loads(cli.run("diff", alpha, "latest", "--host", "alpha", "--json").stdout)
    assert changes["to"] == alpha and changes["changes"] == []
    assert cli.run("find", "b.pem", "--host", "alpha", check=True).stdout == ""
    found = json.loads(cli.run("find", "*.pem", "--snapshot", alpha[:8], "--json").stdout)
    assert {g["snapshot"] for g in found} == {alpha}
    found = json.loads(cli.run("find", "*.pem", "-s", "latest", "-s", alpha, "--json").stdout)
    assert {g["snapshot"] for g in found} == {alpha, beta}
    assert cli.run("find", "*.pem", "--newest", "2000-01-01", check=True).stdout == ""
    recent = cli.run("find", "*.pem", "--oldest", "2000-01-01", check=True).stdout
    assert recent.splitlines() == [f"{source}/a.pem", f"{source}/b.pem"]


def test_snapshots_compact_group_by_and_stats_modes(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.pem").write_text("same")
    (source / "b.pem").write_text("same")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--host", "alpha", check=True)
    cli.run("backup", str(source), "--host", "beta", check=True)
    cli.run("backup", str(source), "--host", "beta", check=True)
    compact = cli.run("snapshots", "--compact", check=True).stdout
    assert "Paths" not in compact and str(source) not in compact and "alpha" in compact
    groups = json.loads(cli.run("snapshots", "--group-by", "host", "--json", check=True).stdout)
    assert [(g["group_key"], len(g["snapshots"])) for g in groups] == [
        ({"hostname": "alpha", "paths": None, "tags": None}, 1),
        ({"hostname": "beta", "paths": None, "tags": None}, 2),
    ]
    latest = json.loads(cli.run("snapshots", "-g", "host", "--latest", "1", "--json").stdout)
    assert [len(g["snapshots"]) for g in latest] == [1, 1]
    plain = cli.run("snapshots", "--group-by", "host,paths", check=True).stdout
    assert f"snapshots for (host [beta], paths [{source}]):" in plain
    assert cli.run("snapshots", "--group-by", "colour").returncode == 1

    def stats(*args: str) -> dict[str, Any]:
        return dict(json.loads(cli.run("stats", *args, "--json", check=True).stdout))

    restore = stats("latest")
    assert restore["mode"] == "restore-size" and restore["snapshots_count"] == 1
    assert restore["total_size"] == 8 and restore["total_file_count"] >= 3
    assert stats()["total_size"] == 24
    contents = stats("--mode", "files-by-contents")
    assert (contents["total_file_count"], contents["total_size"]) == (1, 4)
    raw = stats("--mode", "raw-data", "latest")
    assert raw["total_blob_count"] >= 2 and raw["total_size"] > 0
    assert raw["total_uncompressed_size"] > 0


def test_find_relative_pattern_with_a_slash_matches_at_any_depth(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "app" / "tls" / "deep").mkdir(parents=True)
    (source / "app" / "tls" / "server.crt").write_text("s")
    (source / "app" / "tls" / "deep" / "inner.crt").write_text("i")
    (source / "app" / ".env").write_text("SECRET=1")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)

    def found(pattern: str) -> list[str]:
        return cli.run("find", pattern, check=True).stdout.splitlines()

    # restic: a relative pattern matches at any depth; "*" stays within one component.
    assert found("tls/*.crt") == [f"{source}/app/tls/server.crt"]
    assert found("app/.env") == [f"{source}/app/.env"]
    # "**" matches zero or more directories.
    assert sorted(found("tls/**/*.crt")) == [
        f"{source}/app/tls/deep/inner.crt",
        f"{source}/app/tls/server.crt",
    ]
    # Positive control: an anchored pattern that does not exist finds nothing.
    assert found("/tls/*.crt") == []
