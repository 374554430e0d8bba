"""The face import rule (issue 10): faces import the catalogue, the config model, the
events and the errors, and nothing else of keyark.

A face is ``keyark.cli`` (every module), ``keyark.api`` and, later, the daemon and the
HTTP server. Besides the four layers a face may import its own package and the
process plumbing (``keyark`` for the version, ``keyark.process`` for signals and core
dumps, ``keyark.redaction`` for log masking, ``keyark.cache_dir`` for ``--no-cache``).
``make lint`` runs this test; it reads the source, so it also sees imports inside
functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "keyark"
#: The layers every face may use.
LAYERS = ("keyark.ops", "keyark.config", "keyark.events", "keyark.errors", "keyark.cancel")
#: Process plumbing, not logic.
PLUMBING = ("keyark.process", "keyark.redaction", "keyark.cache_dir", "keyark.terminal_text")
#: Face -> its own package.
FACES = {
    "keyark.cli": SRC / "cli",
    "keyark.api": SRC / "api.py",
    "keyark.daemon": SRC / "daemon",
    "keyark.server": SRC / "server",
    "keyark.tui": SRC / "tui",
}
#: Face -> the other faces it may start (the CLI's ``daemon``/``schedule`` verbs run the
#: daemon and read its schedule table; never the other way round).
#: The HTTP server may run the daemon (``--with-daemon``) and asks the access rules
#: (:mod:`keyark.access`) who may run what.
PEERS = {
    "keyark.cli": ("keyark.daemon", "keyark.server", "keyark.access", "keyark.tui"),
    "keyark.server": ("keyark.daemon", "keyark.access"),
}


def _face_modules() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for face, path in FACES.items():
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        found += [(face, file) for file in files if file.exists()]
    return found


def keyark_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``keyark`` module ``path`` imports (``from keyark import x`` names ``keyark.x``)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("keyark")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "keyark":
                found += [(node.lineno, f"keyark.{a.name}") for a in node.names]
            elif node.module.startswith("keyark."):
                found.append((node.lineno, node.module))
    return found


def allowed(face: str, module: str) -> bool:
    if module == "keyark.__version__" or module == face or module.startswith(face + "."):
        return True
    permitted = LAYERS + PLUMBING + PEERS.get(face, ())
    return any(module == m or module.startswith(m + ".") for m in permitted)


@pytest.mark.parametrize(("face", "path"), _face_modules(), ids=lambda v: getattr(v, "name", v))
def test_face_imports_only_the_core_layers(face: str, path: Path) -> None:
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in keyark_imports(path)
        if not allowed(face, module)
    ]
    assert not wrong, "faces import only the catalogue, config, events, errors: " + "; ".join(wrong)


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """Positive control: a face module reaching into the repository layer is caught."""
    bad = tmp_path / "verb.py"
    bad.write_text(
        "from keyark import ops\nfrom keyark.repo.repository import Repository\n"
        "def f():\n    import keyark.maintenance.check\n"
    )
    found = [m for _, m in keyark_imports(bad) if not allowed("keyark.cli", m)]
    assert found == ["keyark.repo.repository", "keyark.maintenance.check"]


def test_the_daemon_is_a_face_and_never_imports_the_cli(tmp_path: Path) -> None:
    """Positive control: the daemon reaching into the state store or the CLI is caught."""
    bad = tmp_path / "service.py"
    bad.write_text(
        "from keyark import ops\nfrom keyark.daemon import logs\n"
        "from keyark.state.runs import RunStore\nfrom keyark.cli.render import Output\n"
    )
    found = [m for _, m in keyark_imports(bad) if not allowed("keyark.daemon", m)]
    assert found == ["keyark.state.runs", "keyark.cli.render"]


def test_every_face_module_is_seen() -> None:
    names = {path.name for _, path in _face_modules()}
    assert {"main.py", "settings.py", "check.py", "api.py"} <= names
    assert any(face == "keyark.daemon" for face, _ in _face_modules())
