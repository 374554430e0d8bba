"""The config file loader: every problem at once, each with its path and line, in
YAML, JSON and TOML; inline secrets refused (with positive controls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyark.config.loading import (
    config_from_option,
    find_config_file,
    load_config_file,
    parse_config_text,
)
from keyark.config.problems import ConfigFileError, ConfigNotFoundError, ConfigProblem

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "keyark.yaml"

GOOD_YAML = """\
version: 1
repositories:
  primary: {url: /srv/backup, password_file: /etc/keyark/pw}
  offsite: {url: "s3://bucket/keys", password_env: OFFSITE_PW}
jobs:
  tls:
    repository: primary
    copy_to: [offsite]
    sources: [/etc/ssl/private]
    schedule: "0 2 * * *"
"""


def problems_of(text: str, kind: str = "yaml") -> list[ConfigProblem]:
    with pytest.raises(ConfigFileError) as caught:
        parse_config_text(text, kind, "test")
    assert caught.value.code == "config_invalid" and caught.value.exit_code == 1
    return caught.value.problems


def by_path(problems: list[ConfigProblem]) -> dict[str, ConfigProblem]:
    return {problem.path: problem for problem in problems}


def test_the_example_config_loads() -> None:
    config = load_config_file(EXAMPLE)
    assert set(config.repositories) == {"primary", "offsite"}
    job = config.jobs["tls"]
    assert job.schedule is not None and job.schedule.cron == "0 2 * * *"
    assert job.hooks.before and job.retention is not None and job.retention.max_snapshots == 50


def test_a_good_file_is_accepted_positive_control() -> None:
    config = parse_config_text(GOOD_YAML, "yaml")
    assert config.jobs["tls"].copy_to == ["offsite"]


def test_yaml_every_problem_with_its_line() -> None:
    text = (
        GOOD_YAML.replace('"0 2 * * *"', '"0 25 * * *"') + "    schedul: x\n    catch_up: always\n"
    )
    problems = by_path(problems_of(text))
    assert str(problems["jobs.tls.schedule"]) == (
        "jobs.tls.schedule (line 10): hour 25 is out of range (0-23)"
    )
    assert str(problems["jobs.tls.schedul"]) == (
        "jobs.tls.schedul (line 11): unknown key 'schedul' (did you mean 'schedule'?)"
    )
    assert problems["jobs.tls.catch_up"].line == 12
    assert "'skip' or 'run-once'" in problems["jobs.tls.catch_up"].message


def test_json_lines() -> None:
    text = """{
  "repositories": {"primary": {"url": "/srv/x", "password_file": "/pw"}},
  "jobs": {
    "tls": {
      "repository": "primary",
      "sources": ["/etc"],
      "commands": [
        {"path": "a", "run": "x"},
        {"path": "b",
         "rn": "x"}
      ],
      "schedule": "every 0s"
    }
  }
}
"""
    problems = by_path(problems_of(text, "json"))
    assert problems["jobs.tls.commands[1].rn"].line == 10
    assert "did you mean 'run'" in problems["jobs.tls.commands[1].rn"].message
    assert problems["jobs.tls.commands[1].run"].line == 9  # missing: the item's line
    assert problems["jobs.tls.schedule"].line == 12


def test_toml_lines() -> None:
    text = """version = 1

[repositories.primary]
url = "/srv/x"
password_file = "/pw"

[jobs.tls]
repository = "primary"
sources = [
  "/etc/ssl",
]
schedule = "0 25 * * *"
hooks = { befor = ["x"] }

[[jobs.tls.commands]]
path = "a"
run = "echo"

[[jobs.tls.commands]]
path = "b"
rn = "echo"
"""
    problems = by_path(problems_of(text, "toml"))
    assert problems["jobs.tls.schedule"].line == 12  # after a multi-line array
    assert problems["jobs.tls.hooks.befor"].line == 13  # in an inline table
    assert problems["jobs.tls.commands[1].rn"].line == 21  # second array-of-tables entry
    assert problems["jobs.tls.commands[1].run"].line == 19


@pytest.mark.parametrize(
    ("kind", "text", "line"),
    [
        ("yaml", "version: 1\nrepositories: [a\nb: 2\n", 3),
        ("json", '{\n"version": 1,\n}\n', 3),
        ("toml", "version = 1\nrepositories = \n", 2),
    ],
)
def test_syntax_errors_name_the_line(kind: str, text: str, line: int) -> None:
    (problem,) = problems_of(text, kind)
    assert problem.line == line and f"{kind.upper()} syntax" in problem.message


def test_cross_references() -> None:
    text = (
        GOOD_YAML
        + """\
  other:
    repository: primry
    copy_to: [other-place]
maintenance:
  check: {schedule: "@weekly", repositories: [nowhere]}
"""
    )
    text = text.replace("copy_to: [offsite]", "copy_to: [offsite, primary]")
    problems = by_path(problems_of(text))
    assert "did you mean 'primary'" in problems["jobs.other.repository"].message
    assert problems["jobs.other.repository"].line == 12
    assert "not defined" in problems["jobs.other.copy_to[0]"].message
    assert "own repository" in problems["jobs.tls.copy_to[1]"].message
    assert problems["jobs.other"].message == "a job needs sources or commands (what to back up)"
    assert "nowhere" in problems["maintenance.check.repositories[0]"].message


def test_five_errors_all_reported_with_file_name_in_message(tmp_path: Path) -> None:
    text = GOOD_YAML + (
        "    timeout: banana\n    verify: sometimes\n    retention: {keep_within: forever}\n"
        "    compression: brotli\n    random_delay: soon\n"
    )
    path = tmp_path / "keyark.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(path)
    problems = caught.value.problems
    assert [problem.line for problem in problems] == [11, 12, 13, 14, 15]
    message = str(caught.value)
    assert message.startswith(f"config {path} is not valid (5 problems):")
    assert "jobs.tls.timeout (line 11): duration 'banana'" in message


def test_inline_secrets_are_refused_with_what_to_use() -> None:
    text = GOOD_YAML.replace(
        "password_env: OFFSITE_PW}",
        "password_env: OFFSITE_PW, password: hunter2,\n"
        "            s3: {access_key_id: AK, secret_access_key: plainsecret}}",
    )
    problems = by_path(problems_of(text))
    assert str(problems["repositories.offsite.password"]) == (
        "repositories.offsite.password (line 4): a secret cannot be written in the config "
        "file; use password_file, password_command or password_env"
    )
    refused = problems["repositories.offsite.s3.secret_access_key"]
    assert "{env: VARIABLE}" in refused.message and refused.line == 5
    assert len(problems) == 2  # pydantic's own errors at those places are not repeated
    everything = " ".join(str(problem) for problem in problems.values())
    assert "hunter2" not in everything and "plainsecret" not in everything


def test_secret_reference_value_url_password_and_smtp_password_refused() -> None:
    text = """\
repositories:
  r:
    url: "s3://bucket/x"
    password_file: /pw
    s3: {access_key_id: AK, secret_access_key: {value: abc}}
  f: {url: "ftp://user:pw@host/x", password_file: /pw}
notifications:
  - {type: email, from: k@b, recipients: [a@b], smtp: {username: k, password: x}}
"""
    problems = by_path(problems_of(text))
    assert (
        "secret cannot be written" in problems["repositories.r.s3.secret_access_key.value"].message
    )
    assert "in the URL" in problems["repositories.f.url"].message
    assert "use password_file" in problems["notifications[0].smtp.password"].message


def test_secret_references_are_accepted_positive_control() -> None:
    text = """\
repositories:
  r:
    url: "s3://bucket/x"
    password_command: "vault kv get -field=pw secret/keyark"
    s3: {access_key_id: AK, secret_access_key: {env: AWS_SECRET}, session_token: {file: /t}}
  f: {url: "ftp://user@host/x", password_env: PW, ftp: {password: {command: "pass ftp"}}}
"""
    config = parse_config_text(text, "yaml")
    assert config.repositories["r"].s3 is not None


def test_the_model_itself_refuses_a_secret_value() -> None:
    """Not only the loader: a document validated directly is refused too."""
    from pydantic import ValidationError

    from keyark.config.document import KeyarkConfig

    document = {
        "repositories": {
            "r": {
                "url": "s3://b/x",
                "password_file": "/pw",
                "s3": {"access_key_id": "AK", "secret_access_key": {"value": "abc"}},
            }
        }
    }
    with pytest.raises(ValidationError, match="secret cannot be written"):
        KeyarkConfig.model_validate(document)
    document["repositories"]["r"]["s3"]["secret_access_key"] = {"env": "X"}  # type: ignore[index]
    KeyarkConfig.model_validate(document)


def test_backend_section_must_match_the_url() -> None:
    text = "repositories:\n  r: {url: /srv/x, password_file: /pw, s3: {region: x}}\n"
    (problem,) = problems_of(text)
    assert problem.path == "repositories.r" and "s3 options given for a local" in problem.message


def test_rotate_warn_before_due() -> None:
    text = "maintenance:\n  rotate: {max_age_days: 30, warn_days: 40}\n"
    (problem,) = problems_of(text)
    assert problem.path == "maintenance.rotate" and "warn before" in problem.message


def test_find_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    user_file = home / ".config" / "keyark" / "keyark.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("version: 1\n")
    environ = {"HOME": str(home)}
    assert find_config_file(None, environ) == user_file
    (tmp_path / "keyark.yaml").write_text("version: 1\n")
    assert find_config_file(None, environ) == Path("keyark.yaml")
    named = tmp_path / "named.toml"
    named.write_text("version = 1\n")
    assert find_config_file(None, {**environ, "KEYARK_CONFIG": str(named)}) == named
    explicit = tmp_path / "explicit.json"
    explicit.write_text("{}")
    assert find_config_file(str(explicit), {**environ, "KEYARK_CONFIG": str(named)}) == explicit
    with pytest.raises(ConfigNotFoundError, match="does not exist"):
        find_config_file(str(tmp_path / "missing.yaml"), environ)
    with pytest.raises(ConfigNotFoundError, match="does not exist"):
        find_config_file(None, {**environ, "KEYARK_CONFIG": str(tmp_path / "gone.yaml")})


def test_config_from_option_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigNotFoundError, match="no config file found") as caught:
        config_from_option(None, {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})
    assert caught.value.hint is not None


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "keyark.ini"
    path.write_text("")
    with pytest.raises(ConfigFileError, match=r"use \.yaml, \.json or \.toml"):
        load_config_file(path)


def test_an_empty_file_is_an_empty_config() -> None:
    config = parse_config_text("", "yaml")
    assert config.jobs == {} and config.scheduler.max_parallel_jobs == 1
