"""The starter config ``config init`` writes: commented YAML that validates as it is.

It defines one local repository, one nightly job and a weekly check, with every
secret by reference, and comments naming the other choices (docs/config-reference.md
lists every key).
"""

from __future__ import annotations

import os
from pathlib import Path

from keyark.errors import UsageError

STARTER = """\
# keyark.yaml: what keyark backs up, where, and when.
# Every key: docs/config-reference.md (or the JSON Schema: keyark config schema).
# Check this file with: keyark config validate
version: 1

repositories:
  # A name for each repository; jobs refer to it.
  local:
    url: /var/backups/keyark            # or s3://bucket/prefix, sftp://user@host/path, ...
    # Secrets only by reference: password_file, password_command or password_env.
    password_file: /etc/keyark/password
    # limit_upload: 20MiB               # bandwidth limits per second
  # offsite:
  #   url: s3://my-bucket/keyark
  #   password_command: "vault kv get -field=pw secret/keyark"
  #   s3: {endpoint: "https://s3.example.com", object_lock_days: 30}

jobs:
  keys:
    repository: local
    # copy_to: [offsite]                # copy each new snapshot to these repositories
    sources:
      - /etc/ssl/private
    # commands:                         # a command's standard output stored as a file
    #   - {path: vault/raft.snap, run: "vault operator raft snapshot save /dev/stdout"}
    exclude: ["*.tmp"]
    tags: [keys]
    schedule: "0 2 * * *"               # 5-field cron, @daily, or "every 6h"
    random_delay: 10m                   # start up to 10 minutes late (spreads load)
    catch_up: run-once                  # missed while down: run-once (within the window) or skip
    catch_up_window: 24h
    timeout: 2h
    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12, keep_within: 30d}
    prune: after-forget                 # or never
    verify: "subset 10%"                # none | full | subset N%
    hooks:
      before: []                        # a failing before hook skips the backup
      after: []
      on_error: []
      finally: []

maintenance:
  check: {schedule: "0 4 * * 0", read_data_subset: 10%}
  # prune: {schedule: "0 5 * * 0"}
  rotate: {max_age_days: 90, warn_days: 80}

scheduler:
  # timezone: Europe/Berlin             # default: this machine's zone
  max_parallel_jobs: 1

# Alert channels for health checks and job events; each sends alerts at or above min_level
# (info | warning | critical), a repeat at most every repeat_interval (24h), and with
# digest: "daily at 08:00" also a daily summary. Secrets only by reference (files).
# notifications:
#   - type: email
#     min_level: warning
#     smtp: {host: smtp.example.com, port: 587, starttls: true, username: keyark,
#            password_file: /etc/keyark/smtp-password}
#     from: keyark@example.com
#     recipients: [ops@example.com]
#   - {type: slack, min_level: critical, webhook_url_file: /etc/keyark/slack-url}
#   - {type: webhook, url: "https://hooks.example.com/keyark", secret_file: /etc/keyark/hmac}
#   - {type: syslog, address: "udp://127.0.0.1:514", facility: local0}
#   - {type: apprise, min_level: critical, url_file: /etc/keyark/apprise-urls}
"""


def write_starter(path: Path, text: str = STARTER) -> None:
    """Write ``text`` to ``path`` (mode 0600); an existing file is never overwritten."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} exists already; not overwriting it") from None
    except OSError as error:
        raise UsageError(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
