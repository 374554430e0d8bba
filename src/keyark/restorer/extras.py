"""``restore --delete``: remove what the target has and the snapshot does not.

restic 0.17's semantics: in every directory of the snapshot the restore walked, an
entry of the target whose name the snapshot's directory lacks is removed, when the
include/exclude filters would select it (an excluded entry, or one no include
selects, stays). An extra directory is emptied of what the filters select and
removed once empty and selected itself.

Every step is relative to an open directory descriptor (as
:mod:`keyark.restorer.dirs` does): directories are opened with ``O_NOFOLLOW``, a
symbolic link is unlinked as a link, so nothing outside the target is touched,
whatever links the target holds. A dry run only reports.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from keyark.cancel import NEVER, CancelToken
from keyark.errors import UnsafePathError
from keyark.restorer.dirs import DIR_FLAGS, DirHandles
from keyark.restorer.leftovers import TEMP_PREFIX
from keyark.restorer.plan import PathFilter, RestorePlan

#: Told of each entry removed (or, in a dry run, to remove): its shown path, is it a directory.
OnRemoved = Callable[[str, bool], None]
#: Told of each entry that could not be removed: its shown path and the reason.
OnFailed = Callable[[str, str], None]


@dataclass
class ExtraRemover:
    """Removes the target's entries the snapshot lacks, below one restore's plan."""

    plan: RestorePlan
    path_filter: PathFilter
    on_removed: OnRemoved
    on_failed: OnFailed
    dry_run: bool = False
    cancel: CancelToken = NEVER

    def run(self, handles: DirHandles) -> None:
        """Visit every directory the plan listed (parents first) and remove its extras."""
        for parts in sorted(self.plan.listed):
            self.cancel.check()
            keep = self.plan.listed[parts]
            try:
                with handles.use(parts) as dir_fd:
                    names = _names(dir_fd)
                    for name in names:
                        if name not in keep and not name.startswith(TEMP_PREFIX):
                            self._remove(dir_fd, (*parts, name))
            except FileNotFoundError:
                continue  # not in the target (a dry run, or nothing restored there)
            except UnsafePathError:
                continue  # a link or file where the snapshot has a directory: restore says so
            except OSError as error:
                self.on_failed(self.plan.shown(parts), _reason(error))

    def _remove(self, dir_fd: int, parts: tuple[str, ...]) -> bool:
        """Remove ``parts`` (its last part, in ``dir_fd``) if selected; True if it is gone."""
        full = "/" + "/".join((*self.plan.base, *parts))
        if self.path_filter.excluded(full):
            return False
        name, shown = parts[-1], self.plan.shown(parts)
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            selected = self.path_filter.included(full)
            if not stat.S_ISDIR(st.st_mode):
                if selected:
                    if not self.dry_run:
                        os.unlink(name, dir_fd=dir_fd)  # a symlink goes as a link
                    self.on_removed(shown, False)
                return selected
            if not selected and not self.path_filter.may_contain_included(full):
                return False
            emptied = self._empty(dir_fd, parts)
            if not (selected and emptied):
                return False
            if not self.dry_run:
                os.rmdir(name, dir_fd=dir_fd)
            self.on_removed(shown, True)
            return True
        except FileNotFoundError:
            return True  # gone already
        except OSError as error:
            self.on_failed(shown, _reason(error))
            return False

    def _empty(self, parent_fd: int, parts: tuple[str, ...]) -> bool:
        """Remove what the filters select inside directory ``parts``; True if all went."""
        self.cancel.check()
        fd = os.open(parts[-1], DIR_FLAGS, dir_fd=parent_fd)  # ELOOP if swapped for a link
        try:
            gone = [self._remove(fd, (*parts, name)) for name in _names(fd)]
        finally:
            os.close(fd)
        return all(gone)


def _names(dir_fd: int) -> list[str]:
    """The names in the open directory ``dir_fd``, sorted."""
    with os.scandir(dir_fd) as entries:
        return sorted(entry.name for entry in entries)


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "replaced by a symbolic link while being removed; left alone"
    return f"cannot remove it: {(error.strerror or str(error)).lower()}"


__all__ = ["ExtraRemover"]
