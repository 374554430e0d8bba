"""Running a mount in the foreground: checks first, then serve until it is unmounted.

The mount ends when libfuse's loop ends: on SIGINT, SIGTERM or SIGHUP (libfuse's own
handlers, which unmount before the loop returns), on ``fusermount -u`` from outside, or
on a cancel of the operation's token (a watcher thread unmounts). libfuse installs its
signal handlers only where the default action is set, so the process's handlers are
set to the default while the loop runs and put back afterwards. While the filesystem is
served, secret environment variables are out of the process environment, so the
``fusermount`` libfuse runs (as a user other than root) never inherits them.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keyark.cancel import CancelToken
from keyark.errors import Hint, MountError
from keyark.mount.filesystem import SnapshotFilesystem
from keyark.process import signal_handlers
from keyark.redaction import child_environment, is_secret_variable

#: The FUSE device a mount needs.
FUSE_DEVICE = "/dev/fuse"
#: The signals libfuse turns into a clean unmount.
UNMOUNT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How often the watcher looks at the cancel token (seconds).
CANCEL_POLL = 0.1


def check_mountpoint(path: str) -> str:
    """The mount point as an absolute path; MountError unless it is an empty directory
    that is not a mount point already."""
    target = Path(path).expanduser()
    try:
        target.stat()
        if target.is_dir():
            # A stale FUSE mount may still answer stat from the kernel's attribute cache;
            # opening it as a directory always needs the (gone) process.
            os.listdir(target)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno == errno.ENOTCONN:
            raise MountError(
                f"{path} is a FUSE mount whose process is gone (transport endpoint is not "
                "connected): unmount it first",
                hint=Hint.MOUNTPOINT,
            ) from None
        raise MountError(f"mount point {path} cannot be read: {error.strerror}") from None
    if not target.exists():
        raise MountError(f"mount point {path} does not exist", hint=Hint.MOUNTPOINT)
    if not target.is_dir():
        raise MountError(f"mount point {path} is not a directory", hint=Hint.MOUNTPOINT)
    if os.path.ismount(target):
        raise MountError(f"{path} is a mount point already", hint=Hint.MOUNTPOINT)
    try:
        empty = not any(target.iterdir())
    except OSError as error:
        raise MountError(f"mount point {path} cannot be read: {error.strerror}") from None
    if not empty:
        raise MountError(f"mount point {path} is not empty", hint=Hint.MOUNTPOINT)
    return str(target.resolve())


def check_fuse_device(device: str = FUSE_DEVICE) -> None:
    """MountError unless the FUSE device exists and can be opened for reading and writing."""
    if not os.path.exists(device):
        raise MountError(
            f"{device} does not exist: FUSE is not available on this system or container",
            hint=Hint.FUSE,
        )
    if not os.access(device, os.R_OK | os.W_OK):
        raise MountError(f"{device} cannot be opened for reading and writing", hint=Hint.FUSE)


def unmount(mountpoint: str, major: int = 3) -> bool:
    """Unmount a FUSE mount (``fusermount3 -u``, ``fusermount -u``, as root ``umount``);
    whether one of them succeeded."""
    tools = ["fusermount3", "fusermount"] if major == 3 else ["fusermount", "fusermount3"]
    commands = [[tool, "-u", mountpoint] for tool in tools if shutil.which(tool)]
    if os.geteuid() == 0 and shutil.which("umount"):
        commands.append(["umount", mountpoint])
    for command in commands:
        done = subprocess.run(
            command, env=child_environment(), capture_output=True, check=False, timeout=30
        )
        if done.returncode == 0:
            return True
    return False


@contextmanager
def libfuse_signals() -> Iterator[None]:
    """The default action for :data:`UNMOUNT_SIGNALS` in the block (libfuse then takes
    them); the previous handlers afterwards. Outside the main thread: nothing changes."""
    with signal_handlers(dict.fromkeys(UNMOUNT_SIGNALS, signal.SIG_DFL)):
        yield


@contextmanager
def without_secret_variables() -> Iterator[None]:
    """Secret environment variables out of the process environment for the block."""
    hidden = {name: value for name, value in os.environ.items() if is_secret_variable(name)}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)


@contextmanager
def unmount_on_cancel(cancel: CancelToken, mountpoint: str, major: int) -> Iterator[None]:
    """A watcher thread that unmounts once ``cancel`` is cancelled (the loop then ends)."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(CANCEL_POLL):
            if cancel.cancelled:
                unmount(mountpoint, major)
                return

    watcher = threading.Thread(target=watch, name="keyark-mount-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def serve(
    filesystem: SnapshotFilesystem,
    mountpoint: str,
    *,
    cancel: CancelToken,
    on_mounted: Callable[[], None],
    allow_other: bool = False,
) -> None:
    """Mount ``filesystem`` read-only at ``mountpoint`` and serve it until it is unmounted.

    ``on_mounted`` runs once the kernel talks to the filesystem. With ``allow_other``
    other users may enter the mount, and the kernel checks the entries' permission bits
    for them (``default_permissions``). MountError if the mount could not be made;
    :class:`~keyark.errors.CancelledError` once a cancel unmounted it.
    """
    from keyark.mount.fuse_adapter import FuseOperations, fuse_major, load_fuse, run_fuse

    check_fuse_device()
    fuse = load_fuse()
    major = fuse_major(fuse)
    mounted = threading.Event()

    def ready() -> None:
        mounted.set()
        on_mounted()

    options: dict[str, Any] = {
        "ro": True,
        "nosuid": True,
        "nodev": True,
        "fsname": "keyark",
        "subtype": "keyark",
    }
    if allow_other:
        options.update(allow_other=True, default_permissions=True)
    operations = FuseOperations(filesystem, ready)
    with (
        without_secret_variables(),
        libfuse_signals(),
        unmount_on_cancel(cancel, mountpoint, major),
    ):
        run_fuse(fuse, operations, mountpoint, options)
    if os.path.ismount(mountpoint):  # the loop failed without unmounting
        unmount(mountpoint, major)
    cancel.check()
    if not mounted.is_set():
        raise MountError(f"FUSE could not mount {mountpoint}", hint=Hint.FUSE)


__all__ = [
    "FUSE_DEVICE",
    "check_fuse_device",
    "check_mountpoint",
    "libfuse_signals",
    "serve",
    "unmount",
    "unmount_on_cancel",
    "without_secret_variables",
]
