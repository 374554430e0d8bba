"""Global options anywhere, the restic-style variables and flags, ``version`` and
``generate``: through the installed ``keyark`` command (issue 11, section 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree
from tests.e2e.test_cli import assert_one_line_error


@pytest.fixture
def repo_cli(cli: CLI) -> CLI:
    """An initialised repository; ``KEYARK_REPOSITORY`` is left unset (flags name it)."""
    cli.run("init", check=True)
    del cli.env["KEYARK_REPOSITORY"]
    return cli


def _host(snapshot: dict[str, object]) -> object:
    """restic's ``hostname`` (keyark's older ``host`` until the JSON names change)."""
    return snapshot.get("hostname", snapshot.get("host"))


def _snapshots(cli: CLI, *args: str, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    found = json.loads(cli.run(*args, env=env, check=True).stdout)
    assert isinstance(found, list)
    return found


def test_global_options_before_between_and_after(repo_cli: CLI, tmp_path: Path) -> None:
    repo = str(repo_cli.repo)
    source = make_tree(tmp_path / "src")
    repo_cli.run("backup", "-r", repo, str(source), check=True)
    for args in (
        ("-r", repo, "--json", "snapshots"),
        ("snapshots", "-r", repo, "--json"),
        ("--json", "snapshots", "--repo", repo),
    ):
        assert len(_snapshots(repo_cli, *args)) == 1, args
    # between a group and its subcommand (failed with "No such option '-r'")
    keys = json.loads(repo_cli.run("key", "-r", repo, "--json", "list", check=True).stdout)
    assert len(keys) == 1 and keys[0]["current"]
    keys = json.loads(repo_cli.run("key", "--json", "list", "-r", repo, check=True).stdout)
    assert len(keys) == 1
    listed = repo_cli.run("catalog", "-r", repo, "rebuild", "--json", check=True)
    assert json.loads(listed.stdout)["snapshots"] == 1
    # the group's help shows the global options too
    assert "--repo" in repo_cli.run("key", "--help", check=True).stdout


def test_key_add_keeps_its_own_key_file_option(repo_cli: CLI, tmp_path: Path) -> None:
    """``key add --key-file`` creates a key file; the global one opens with a key file."""
    new_key = tmp_path / "new.key"
    repo_cli.run("key", "-r", str(repo_cli.repo), "add", "--key-file", str(new_key), check=True)
    assert new_key.exists()
    opened = repo_cli.run(
        "key",
        "--key-file",
        str(new_key),
        "-r",
        str(repo_cli.repo),
        "list",
        "--json",
        env={"KEYARK_PASSWORD": "wrong"},
        check=True,
    )
    assert len(json.loads(opened.stdout)) == 2


def test_repository_file(repo_cli: CLI, tmp_path: Path) -> None:
    location = tmp_path / "repo-location"
    location.write_text(f"{repo_cli.repo}\n")
    assert _snapshots(repo_cli, "snapshots", "--json", "--repository-file", str(location)) == []
    by_env = {"KEYARK_REPOSITORY_FILE": str(location)}
    assert _snapshots(repo_cli, "--json", "snapshots", env=by_env) == []
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = repo_cli.run("snapshots", "--repository-file", str(empty))
    assert_one_line_error(result, 1)
    assert "--repository-file" in result.stderr and "empty" in result.stderr
    missing = repo_cli.run("snapshots", env={"KEYARK_REPOSITORY_FILE": str(tmp_path / "nope")})
    assert_one_line_error(missing, 1)
    assert "KEYARK_REPOSITORY_FILE" in missing.stderr
    none = repo_cli.run("snapshots")
    assert_one_line_error(none, 1)
    assert "--repository-file" in none.stderr


def test_no_lock_is_refused_by_commands_that_change_the_repository(
    repo_cli: CLI, tmp_path: Path
) -> None:
    repo = str(repo_cli.repo)
    source = make_tree(tmp_path / "src")
    for args in (
        ("backup", str(source)),
        ("key", "add"),
        ("forget", "--keep-last", "1"),
        ("prune",),
        ("repair", "index"),
    ):
        result = repo_cli.run("-r", repo, "--no-lock", *args, env={"KEYARK_NEW_PASSWORD": "x"})
        assert_one_line_error(result, 1)
        assert "--no-lock" in result.stderr and args[0] in result.stderr, result.stderr
    assert _snapshots(repo_cli, "-r", repo, "snapshots", "--no-lock", "--json") == []


def test_no_lock_reads_without_writing_a_lock(repo_cli: CLI, tmp_path: Path) -> None:
    repo = str(repo_cli.repo)
    source = make_tree(tmp_path / "src")
    repo_cli.run("-r", repo, "backup", str(source), check=True)
    locks = repo_cli.repo / "locks"
    for entry in locks.iterdir():
        entry.unlink()
    locks.rmdir()
    locks.write_text("not a directory: writing a lock object fails, even as root")
    key = str(source / "tls" / "server.key")
    assert repo_cli.run("-r", repo, "check", "--no-lock", check=True).returncode == 0
    assert repo_cli.run("-r", repo, "--no-lock", "dump", "latest", key, check=True).stdout
    target = tmp_path / "out"
    repo_cli.run("-r", repo, "--no-lock", "restore", "latest", "--target", str(target), check=True)
    assert repo_cli.run("-r", repo, "check").returncode != 0  # positive control: it locks


def test_keyark_host_and_compression_defaults(repo_cli: CLI, tmp_path: Path) -> None:
    repo = str(repo_cli.repo)
    source = make_tree(tmp_path / "src")
    repo_cli.run("-r", repo, "backup", str(source), env={"KEYARK_HOST": "alpha"}, check=True)
    repo_cli.run("-r", repo, "backup", str(source), "--host", "beta", check=True)
    every = _snapshots(repo_cli, "-r", repo, "snapshots", "--json")
    assert sorted(str(_host(s)) for s in every) == ["alpha", "beta"]
    alpha = _snapshots(repo_cli, "-r", repo, "snapshots", "--json", env={"KEYARK_HOST": "alpha"})
    assert [_host(s) for s in alpha] == ["alpha"]
    beta = _snapshots(
        repo_cli,
        "-r",
        repo,
        "snapshots",
        "--json",
        "--host",
        "beta",
        env={"KEYARK_HOST": "alpha"},
    )
    assert [_host(s) for s in beta] == ["beta"]
    bad = repo_cli.run("-r", repo, "backup", str(source), env={"KEYARK_COMPRESSION": "zip"})
    assert_one_line_error(bad, 1)
    assert "zip" in bad.stderr
    fine = repo_cli.run(
        "-r", repo, "backup", str(source), "--json", env={"KEYARK_COMPRESSION": "none"}
    )
    assert fine.returncode == 0, fine.stderr


def test_new_password_file(repo_cli: CLI, tmp_path: Path) -> None:
    repo = str(repo_cli.repo)
    new = tmp_path / "new-pw"
    new.write_text("a new passphrase\n")
    repo_cli.run("-r", repo, "key", "passwd", "--new-password-file", str(new), check=True)
    assert_one_line_error(repo_cli.run("-r", repo, "snapshots"), 12)
    again = {"KEYARK_PASSWORD": "a new passphrase"}
    assert _snapshots(repo_cli, "-r", repo, "snapshots", "--json", env=again) == []
    other = tmp_path / "other-pw"
    other.write_text("second slot\n")
    repo_cli.run("key", "add", "-r", repo, "--new-password-file", str(other), env=again, check=True)
    second = {"KEYARK_PASSWORD": "second slot"}
    assert _snapshots(repo_cli, "-r", repo, "snapshots", "--json", env=second) == []
    # KEYARK_NEW_PASSWORD still works
    repo_cli.run(
        "-r", repo, "key", "passwd", env={**second, "KEYARK_NEW_PASSWORD": "third"}, check=True
    )
    assert (
        _snapshots(repo_cli, "-r", repo, "snapshots", "--json", env={"KEYARK_PASSWORD": "third"})
        == []
    )


def test_copy_from_password_command(cli: CLI, tmp_path: Path) -> None:
    source_repo = tmp_path / "source"
    cli.run("-r", str(source_repo), "init", check=True)
    cli.run("-r", str(source_repo), "backup", str(make_tree(tmp_path / "src")), check=True)
    cli.run("init", check=True)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    copied = cli.run(
        "copy",
        "--all",
        "--from-repo",
        str(source_repo),
        "--from-password-command",
        f"cat {pw}",
        env={"KEYARK_FROM_PASSWORD": ""},
    )
    assert copied.returncode == 0, copied.stderr
    assert len(_snapshots(cli, "snapshots", "--json")) == 1


def test_version(tmp_path: Path) -> None:
    text = subprocess.run(
        [keyark_binary(), "version"], capture_output=True, text=True, check=True
    ).stdout
    assert text.startswith("keyark 0.") and "Python" in text
    for args in (["version", "--json"], ["--json", "version"]):
        shown = subprocess.run([keyark_binary(), *args], capture_output=True, text=True, check=True)
        document = json.loads(shown.stdout)
        assert document["message_type"] == "version" and document["version"] == text.split()[1]
        assert {"python_version", "os", "arch"} <= set(document)


def _complete(words: str, cword: int) -> list[str]:
    result = subprocess.run(
        [keyark_binary()],
        env={
            "PATH": "/usr/bin:/bin",
            "_KEYARK_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]


def test_generate_completion_and_man_pages(tmp_path: Path) -> None:
    bash = tmp_path / "keyark.bash"
    zsh = tmp_path / "_keyark"
    fish = tmp_path / "keyark.fish"
    subprocess.run(
        [
            keyark_binary(),
            "generate",
            "--bash-completion",
            str(bash),
            "--zsh-completion",
            str(zsh),
            "--fish-completion",
            str(fish),
        ],
        check=True,
    )
    for script in (bash, zsh, fish):
        assert "_KEYARK_COMPLETE" in script.read_text(), script
    if Path("/bin/bash").exists():
        syntax = subprocess.run(
            ["bash", "-n", str(bash)], capture_output=True, text=True, check=False
        )
        assert syntax.returncode == 0, syntax.stderr
    assert "snapshots" in _complete("keyark snap", 1)
    assert "list" in _complete("keyark key -r /x li", 4)
    assert "--repo" in _complete("keyark key list --re", 3)
    man = tmp_path / "man"
    subprocess.run([keyark_binary(), "generate", "--man", str(man)], check=True)
    pages = {page.name for page in man.iterdir()}
    assert {"keyark.1", "keyark-snapshots.1", "keyark-key-list.1", "keyark-version.1"} <= pages
    text = (man / "keyark-key-list.1").read_text()
    assert text.startswith('.TH "KEYARK-KEY-LIST" "1"') and "\\-\\-repo" in text
    nothing = subprocess.run(
        [keyark_binary(), "generate"], capture_output=True, text=True, check=False
    )
    assert nothing.returncode == 1 and nothing.stderr.startswith("keyark: nothing to generate")


def test_help_and_version_import_no_verb_and_no_heavy_library() -> None:
    """Start-up: ``--help`` and ``version`` load neither verbs nor the core (issue 11, §3)."""
    probe = (
        "import sys\n"
        "from keyark.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = ('keyark.ops', 'keyark.config', 'keyark.cli.render', 'pydantic', 'rich',"
        " 'cryptography', 'boto3', 'keyark.cli.backup')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)\n"
    )
    for args in (["--help"], ["version"], ["version", "--json"], ["key", "--help"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
        )
        loaded = result.stderr.rsplit("LOADED", 1)[1].strip()
        if args == ["key", "--help"]:  # a verb's own help loads that verb only
            assert "keyark.cli.backup" not in loaded, loaded
        else:
            assert loaded == "[]", (args, loaded)
