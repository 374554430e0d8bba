"""``keyark browse`` driven by Textual's pilot at 80x24: a complete restore by keyboard.

The repository is real (made through the catalogue); the restore writes real files, which
are compared byte for byte. Hostile names (markup, pattern characters) are restored
exactly and shown as text.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import PASSWORD
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from keyark import ops
from keyark.audit.policy import AuditPolicy
from keyark.config.models import RepositoryConfig, RepositorySpec
from keyark.crypto.slots import Credentials
from keyark.tui.app import BrowseApp
from keyark.tui.screens.restore import RestoreScreen
from keyark.tui.screens.tree import TreeScreen
from keyark.tui.session import BrowseSession

#: Names a restore must treat as literal names, never as markup or patterns.
HOSTILE = "[bold]odd*name?.key"


@pytest.fixture
def session(tmp_path: Path) -> tuple[BrowseSession, Path]:
    ctx = ops.OperationContext(
        config=RepositoryConfig(repository=RepositorySpec(url=str(tmp_path / "repo"))),
        credentials=Credentials(passphrase=PASSWORD.encode()),
        cache_dir=tmp_path / "cache",
        audit=AuditPolicy(directory=tmp_path / "audit"),
    )
    ops.init(ctx, ops.InitOptions(passphrase=PASSWORD.encode(), pack_size_mib=1))
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "server.key").write_bytes(b"server key bytes\n" * 50)
    (source / "tls" / "server.crt").write_bytes(b"certificate\n")
    (source / "tls" / HOSTILE).write_bytes(b"hostile name, literal\n")
    (source / "tls" / "odd-other.key").write_bytes(b"must not come along with the odd one\n")
    (source / "ssh").mkdir()
    (source / "ssh" / "id_ed25519").write_bytes(b"ssh key\n")
    ops.backup(ctx, ops.BackupOptions(paths=[str(source)]))
    return BrowseSession(ctx, ops.SnapshotFilter()), source


async def _wait(pilot: Pilot[None], done: object, what: str) -> None:
    """Let the app work until ``done()`` is true (bounded), failing with ``what``."""
    for _ in range(400):
        await pilot.pause(0.05)
        if callable(done) and done():
            return
    raise AssertionError(f"timed out waiting for {what}")


async def _search_and_mark(pilot: Pilot[None], pattern: str) -> None:
    await pilot.press("slash")
    await pilot.press(*pattern)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("space")


def test_complete_restore_by_keyboard(session: tuple[BrowseSession, Path], tmp_path: Path) -> None:
    browse, source = session
    target = tmp_path / "target"
    # An existing file the restore will overwrite: the preview must name it.
    existing = target / str(source / "tls" / "server.key").lstrip("/")
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"old content")
    app = BrowseApp(browse)

    async def drive() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("enter")  # the only snapshot
            await _wait(pilot, lambda: isinstance(app.screen, TreeScreen), "the tree")
            tree = app.screen
            assert isinstance(tree, TreeScreen)
            assert tree.query_one(DataTable).row_count == 1  # "/" holds the first component
            await _search_and_mark(pilot, "server.key")
            await _search_and_mark(pilot, "[[]bold*")  # the hostile name, by a bracket glob
            assert len(tree.marks) == 2, tree.marks.paths
            await pilot.press("r")
            await _wait(pilot, lambda: isinstance(app.screen, RestoreScreen), "restore screen")
            await pilot.press(*str(target))
            await pilot.press("ctrl+p")
            report = app.screen.query_one("#report", Static)
            await _wait(pilot, lambda: "Ctrl+R restores" in str(report.content), "preview")
            shown = str(report.content)
            assert "1 existing file(s) would be overwritten" in shown, shown
            assert "server.key" in shown
            await pilot.press("ctrl+r")
            await _wait(pilot, lambda: app.restored is not None, "the restore")
            await pilot.press("q")

    asyncio.run(drive())
    assert app.restored is not None and app.restored.files_restored == 2
    restored = target / str(source).lstrip("/")
    assert (restored / "tls" / "server.key").read_bytes() == b"server key bytes\n" * 50
    assert (restored / "tls" / HOSTILE).read_bytes() == b"hostile name, literal\n"
    # Positive controls: what was not marked was not restored.
    assert not (restored / "tls" / "odd-other.key").exists()
    assert not (restored / "tls" / "server.crt").exists()
    assert not (restored / "ssh").exists()


def test_nothing_marked_restores_nothing(session: tuple[BrowseSession, Path]) -> None:
    browse, _ = session
    app = BrowseApp(browse)

    async def drive() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("enter")
            await _wait(pilot, lambda: isinstance(app.screen, TreeScreen), "the tree")
            await pilot.press("r")
            await pilot.pause()
            assert isinstance(app.screen, TreeScreen)  # refused: nothing is marked
            await pilot.press("q")

    asyncio.run(drive())
    assert app.restored is None
