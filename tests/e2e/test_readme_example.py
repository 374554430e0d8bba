"""The README's Python API example runs as written on a new repository path (issue 10 §6).

The first ``python`` block of the README's "Python API" section is executed with its
placeholder paths and password replaced by a fresh repository path, a sample tree of key
material and a restore target; nothing else is changed.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python API section has no python block"
    return match.group(1)


def test_the_readme_python_example_runs_on_a_new_repository(tmp_path: Path) -> None:
    source = tmp_path / "ssl" / "private"
    source.mkdir(parents=True)
    (source / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    (source / "server.crt").write_text("certificate")
    repo = tmp_path / "new" / "repository"
    target = tmp_path / "restore"
    code = (
        _example()
        .replace('"/srv/backup/keys"', repr(str(repo)))
        .replace('"/etc/ssl/private"', repr(str(source)))
        .replace('"/tmp/restore"', repr(str(target)))
        .replace('password="..."', 'password="correct horse battery staple"')
    )
    assert str(repo) in code and str(source) in code  # positive control: the paths were used
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the README.s own code
    restored = list(target.rglob("server.key"))
    assert restored and restored[0].read_text().endswith("secret\n")
    assert not list(target.rglob("server.crt"))  # include=["*.key"] was honoured
