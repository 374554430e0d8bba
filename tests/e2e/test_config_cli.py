"""``keyark config`` through the installed command: validate, import, schema, show, init."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import yaml
from tests.conftest import CLI, keyark_binary

SEED = Path(__file__).resolve().parents[1] / "data" / "seed-formats"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "keyark.yaml"

FIVE_ERRORS = """\
version: 1
repositories:
  primary: {url: /srv/backup, password_file: /etc/keyark/pw}
  offsite: {url: "s3://bucket/keys", password: hunter2}
jobs:
  tls:
    repository: primary
    copy_to: [nowhere]
    sources: [/etc/ssl/private]
    schedule: "0 25 * * *"
    schedul: "@daily"
    catch_up: always
"""


def keyark(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("KEYARK_") and key not in ("XDG_CONFIG_HOME",)
    }
    env["HOME"] = str(cwd)
    env["KEYARK_STATE_DIR"] = str(cwd / "state")
    return subprocess.run(
        [keyark_binary(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_reports_all_five_errors_with_path_and_line(tmp_path: Path) -> None:
    (tmp_path / "keyark.yaml").write_text(FIVE_ERRORS)
    result = keyark("config", "validate", cwd=tmp_path)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    expected = [
        "repositories.offsite.password (line 4): a secret cannot be written in the config file; "
        "use password_file, password_command or password_env",
        "jobs.tls.copy_to[0] (line 8): repository 'nowhere' is not defined",
        "jobs.tls.schedule (line 10): hour 25 is out of range (0-23)",
        "jobs.tls.schedul (line 11): unknown key 'schedul' (did you mean 'schedule'?)",
        "jobs.tls.catch_up (line 12): 'always' is not allowed",
    ]
    for line in expected:
        assert line in result.stderr, result.stderr
    assert "(5 problems)" in result.stderr
    as_json = keyark("config", "validate", "keyark.yaml", "--json", cwd=tmp_path)
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["valid"] is False
    assert [problem["line"] for problem in document["problems"]] == [4, 8, 10, 11, 12]


def test_validate_a_good_file_and_no_file(tmp_path: Path) -> None:
    good = keyark("config", "--config", str(EXAMPLE), "validate", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"config {EXAMPLE} is valid: 2 repositories, 1 job"
    missing = keyark("config", "validate", cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "no config file found" in missing.stderr and "--config FILE" in missing.stderr
    absent = keyark("config", "validate", "nope.yaml", cwd=tmp_path)
    assert absent.returncode == 1 and "nope.yaml does not exist" in absent.stderr


def test_import_of_the_seed_files_validates(tmp_path: Path) -> None:
    result = keyark(
        "config",
        "import",
        str(SEED / "backup_config.json"),
        str(SEED / "monitor_config.json"),
        "-o",
        "keyark.yaml",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for text in (
        "backup_settings.retention_days: 30 -> jobs.keys.retention.keep_within: 30d",
        "backup_settings.max_backups: 50 -> jobs.keys.retention.max_snapshots: 50",
        "backup_settings.compression_level: 9 -> jobs.keys.compression: zstd:9",
        "keyark always encrypts",
        "Argon2id",
        "PLACEHOLDER",
        "monitoring.health_check_interval: 300 -> monitor.interval: 5m",
        "notifications.email.recipients",
    ):
        assert text in result.stdout, text
    assert stat.S_IMODE((tmp_path / "keyark.yaml").stat().st_mode) == 0o600
    checked = keyark("config", "validate", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "2 repositories, 1 job" in checked.stdout
    again = keyark(
        "config", "import", str(SEED / "backup_config.json"), "-o", "keyark.yaml", cwd=tmp_path
    )
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_schema_validates_the_example(tmp_path: Path) -> None:
    result = keyark("config", "schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), schema)


def test_show_never_prints_the_password_command(tmp_path: Path) -> None:
    for flags in (["--json"], []):
        result = keyark("config", "show", "--config", str(EXAMPLE), *flags, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "vault kv get" not in result.stdout and "<redacted>" in result.stdout
    document = json.loads(keyark("config", "show", str(EXAMPLE), "--json", cwd=tmp_path).stdout)
    assert document["repositories"]["offsite"]["password_command"] == "<redacted>"
    assert document["jobs"]["tls"]["catch_up_window"] == "1d"


def test_init_writes_a_starter_that_validates(tmp_path: Path) -> None:
    result = keyark("config", "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "keyark.yaml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert keyark("config", "validate", cwd=tmp_path).returncode == 0
    refused = keyark("config", "init", cwd=tmp_path)
    assert refused.returncode == 1 and "not overwriting" in refused.stderr


def test_a_config_file_keyark_writes_is_audited_in_the_repositories_it_names(
    cli: CLI, tmp_path: Path
) -> None:
    cli.run("init", check=True)
    seed = json.loads((SEED / "backup_config.json").read_text())
    seed["storage"] = {"backends": ["local"], "local_path": str(cli.repo)}
    (tmp_path / "backup_config.json").write_text(json.dumps(seed))
    written = tmp_path / "keyark.yaml"
    cli.run(
        "config", "import", str(tmp_path / "backup_config.json"), "-o", str(written), check=True
    )
    records = json.loads(cli.run("audit", "log", "--json", check=True).stdout)
    [imported] = [r for r in records if r["operation"] == "config import"]
    assert imported["result"] == "success" and imported["target"]["path"] == str(written)
    # Positive control: a config naming another repository leaves this log alone.
    seed["storage"]["local_path"] = str(tmp_path / "elsewhere")
    (tmp_path / "other.json").write_text(json.dumps(seed))
    cli.run("config", "import", str(tmp_path / "other.json"), "-o", str(tmp_path / "o.yaml"))
    records = json.loads(cli.run("audit", "log", "--json", check=True).stdout)
    assert [r["operation"] for r in records].count("config import") == 1
