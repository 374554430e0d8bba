"""Seed import, the starter file, ``config show``'s redaction and the JSON Schema."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from keyark.config.display import REDACTED, config_schema, shown_document
from keyark.config.loading import load_config_file, parse_config_text
from keyark.config.seed_import import PASSWORD_FILE, S3_URL, import_seed, import_seed_files
from keyark.config.starter import STARTER, write_starter
from keyark.errors import UsageError

SEED = Path(__file__).resolve().parents[1] / "data" / "seed-formats"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "keyark.yaml"


def test_seed_files_import_maps_every_value() -> None:
    result = import_seed_files(SEED / "backup_config.json", SEED / "monitor_config.json")
    config = parse_config_text(result.yaml_text(), "yaml")
    job = config.jobs["keys"]
    assert job.retention is not None
    assert job.retention.keep_within == "30d" and job.retention.max_snapshots == 50
    assert job.compression == "zstd:9" and job.verify == "full" and job.copy_to == ["s3"]
    assert config.repositories["local"].url == str(SEED / "backups")
    assert config.repositories["s3"].url == S3_URL
    assert config.repositories["local"].password_file == PASSWORD_FILE
    assert config.monitor.interval.total_seconds() == 300
    assert config.monitor.thresholds.backup_age_warning_hours == 26
    assert config.monitor.thresholds.disk_critical_percent == 90
    [email] = config.notifications
    assert email.type == "email" and email.recipients == ["admin@example.com"]
    assert email.min_level == "warning" and email.enabled
    notes = {note.source: note.outcome for note in result.notes}
    # every leaf of both seed files is accounted for
    for file in ("backup_config.json", "monitor_config.json"):
        for section, values in json.loads((SEED / file).read_text()).items():
            for key in values:
                if key == "email":
                    continue
                source = f"{section}.{key}"
                if source == "storage.backends":
                    assert "storage.backends[local]" in notes and "storage.backends[s3]" in notes
                else:
                    assert source in notes, source
    assert "always encrypts" in notes["backup_settings.encryption_enabled"]
    assert "Argon2id" in notes["encryption.key_derivation"]
    assert "below keyark's minimum" in notes["encryption.iterations"]
    assert "PLACEHOLDER" in notes["storage.backends[s3]"]
    assert "PLACEHOLDER" in notes["(passphrase)"]
    assert "PLACEHOLDER" in notes["(smtp)"] and email.smtp.host in notes["(smtp)"]
    assert "# What became of each value:" in result.yaml_text()


def test_encryption_disabled_is_not_honoured_and_unknown_keys_dropped(tmp_path: Path) -> None:
    backup = {
        "backup_settings": {"encryption_enabled": False, "compression_level": 30},
        "storage": {"backends": ["local", "ftp-ish"], "local_path": "/srv/b"},
        "extra": {"colour": "blue"},
    }
    result = import_seed(backup, {"thresholds": {"cpu_percent": 5}}, base_dir=tmp_path)
    notes = {note.source: note.outcome for note in result.notes}
    assert notes["backup_settings.encryption_enabled"].startswith("not honoured")
    assert "zstd:19" in notes["backup_settings.compression_level"]
    assert notes["storage.backends[ftp-ish]"].startswith("dropped")
    assert notes["extra.colour"].startswith("dropped")
    assert notes["thresholds.cpu_percent"].startswith("dropped")
    assert result.document["repositories"]["local"]["url"] == "/srv/b"


def test_starter_validates_and_is_private(tmp_path: Path) -> None:
    config = parse_config_text(STARTER, "yaml")
    assert config.jobs["keys"].repository == "local"
    target = tmp_path / "sub" / "keyark.yaml"
    write_starter(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert load_config_file(target).jobs
    with pytest.raises(UsageError, match="exists already"):
        write_starter(target, "changed")
    assert target.read_text() == STARTER


def test_show_redacts_commands_and_url_passwords() -> None:
    text = """\
repositories:
  r:
    url: "s3://bucket/x"
    password_command: "vault kv get -field=pw secret/TOPSECRETPATH"
    s3: {access_key_id: AK, secret_access_key: {command: "pass show TOPSECRETTOO"}}
jobs:
  j:
    repository: r
    sources: [/etc]
    hooks: {before: ["curl --password=hunter22 http://x"]}
"""
    shown = shown_document(parse_config_text(text, "yaml"))
    dumped = json.dumps(shown)
    assert "TOPSECRET" not in dumped and "hunter22" not in dumped
    repository = shown["repositories"]["r"]
    assert repository["password_command"] == REDACTED
    assert repository["s3"]["secret_access_key"] == {"command": REDACTED}
    # defaults are filled in
    assert shown["jobs"]["j"]["catch_up"] == "run-once"
    assert shown["jobs"]["j"]["hooks"]["timeout"] == "5m"
    assert shown["scheduler"]["max_parallel_jobs"] == 1


def test_schema_validates_the_example_and_rejects_a_typo() -> None:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    document = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.validate(document, schema)
    document["jobs"]["tls"]["schedul"] = "x"  # positive control
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
