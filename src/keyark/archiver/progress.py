"""Backup progress counters a face may poll (written by the pipeline)."""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field

from keyark.archiver.sources import ExcludeMatcher


@dataclass
class Progress:
    """Counters the faces may poll to draw progress (written by the pipeline)."""

    files_done: int = 0
    bytes_done: int = 0
    total_files: int = 0
    total_bytes: int = 0
    scan_finished: bool = False
    #: Set by a face that shows a percentage: the backup then counts totals in the background.
    want_totals: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scan(self, sources: list[str], excludes: ExcludeMatcher) -> threading.Thread:
        """Count files and bytes below ``sources`` in the background (for a percentage)."""

        def walk() -> None:
            files = size = 0
            for source in sources:
                for dirpath, dirnames, filenames in os.walk(source):
                    dirnames[:] = [
                        d for d in dirnames if not excludes.excluded(os.path.join(dirpath, d))
                    ]
                    for name in filenames:
                        path = os.path.join(dirpath, name)
                        if excludes.excluded(path):
                            continue
                        try:
                            st = os.lstat(path)
                        except OSError:
                            continue
                        if stat.S_ISREG(st.st_mode):
                            files += 1
                            size += st.st_size
                if os.path.isfile(source):
                    files += 1
                    size += os.path.getsize(source)
            with self.lock:
                self.total_files, self.total_bytes, self.scan_finished = files, size, True

        thread = threading.Thread(target=walk, daemon=True, name="keyark-scan")
        thread.start()
        return thread

    def add(self, files: int, size: int) -> None:
        with self.lock:
            self.files_done += files
            self.bytes_done += size


__all__ = ["Progress"]
