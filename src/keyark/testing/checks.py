"""The checks of the backend contract (see :mod:`keyark.testing.contract`).

Each check is a plain function ``check(backend, prefix, options)`` that works only on
names under ``prefix`` and raises :class:`~keyark.errors.ContractError` with a clear message
when the backend misbehaves. The checks never use ``assert``, so they hold under ``python -O``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from keyark.backends.base import (
    Backend,
    Capabilities,
    delete_temporary,
    is_temporary_name,
    list_temporary,
)
from keyark.errors import (
    AlreadyExistsError,
    ContractError,
    NotFoundError,
    PermanentBackendError,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class ContractOptions:
    """Sizes of the heavier checks."""

    #: Keys written for the listing-at-scale check (> 1000 exercises paging).
    many_keys: int = 120
    #: Size of the large object, in MiB.
    large_mib: int = 20
    #: Threads racing in the concurrency check.
    threads: int = 8


Check = Callable[[Backend, str, ContractOptions], None]


# -- helpers ---------------------------------------------------------------------------
def _require(condition: bool, message: str) -> None:
    """Raise :class:`ContractError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ContractError(message)


def _hex(nbytes: int = 32) -> str:
    return secrets.token_hex(nbytes)


def format_names(prefix: str = "") -> list[str]:
    """One name of every shape the repository format uses."""
    pack = _hex()
    return [
        f"{prefix}config",
        f"{prefix}keyring",
        f"{prefix}keys/{_hex(16)}",
        f"{prefix}keys/sessions/{_hex(16)}",
        f"{prefix}data/{pack[:2]}/{pack}",
        f"{prefix}index/{_hex()}",
        f"{prefix}snapshots/{_hex()}",
        f"{prefix}locks/{_hex(16)}",
    ]


def _expect_bytes(actual: bytes, expected: bytes, what: str) -> None:
    if actual == expected:
        return
    first = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    raise ContractError(
        f"{what}: got {len(actual)} bytes, expected {len(expected)} (first difference at {first})"
    )


def _expect_raises(kind: type[Exception], what: str, function: Callable[[], object]) -> None:
    try:
        function()
    except kind:
        return
    except Exception as error:
        raise ContractError(
            f"{what}: expected {kind.__name__}, got {type(error).__name__}: {error}"
        ) from error
    raise ContractError(f"{what}: expected {kind.__name__}, but it succeeded")


def _listed(backend: Backend, prefix: str) -> Counter[str]:
    return Counter(info.name for info in backend.list(prefix))


def _expect_listing(backend: Backend, prefix: str, expected: Iterable[str]) -> None:
    listed = _listed(backend, prefix)
    twice = sorted(name for name, count in listed.items() if count > 1)
    missing = sorted(set(expected) - set(listed))
    extra = sorted(set(listed) - set(expected))
    problems = []
    if twice:
        problems.append(f"listed more than once: {twice[:5]}")
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} unexpected, e.g. {extra[:5]}")
    if problems:
        raise ContractError(f"list({prefix!r}): " + "; ".join(problems))


# -- the checks ------------------------------------------------------------------------
def check_describe(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """The backend implements the protocol and describes itself without credentials."""
    _require(isinstance(backend, Backend), "object does not implement the Backend protocol")
    location = backend.location()
    _require(isinstance(location, str) and bool(location), "location() must be a non-empty string")
    _require(not re.search(r"://[^/@]*:[^/@]*@", location), "location() shows a password")
    capabilities = backend.capabilities()
    _require(isinstance(capabilities, Capabilities), "capabilities() must return Capabilities")
    _require(capabilities.connections >= 1, "capabilities().connections must be at least 1")


def check_put_get(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """A put is read back whole; stat reports its size; empty objects work."""
    for name, data in (
        (f"{prefix}config", secrets.token_bytes(1500)),
        (f"{prefix}locks/{_hex(16)}", b""),
    ):
        backend.put(name, data)
        _expect_bytes(backend.get(name), data, f"get({name!r}) after put")
        size = backend.stat(name).size
        _require(size == len(data), f"stat({name!r}).size is {size}, expected {len(data)}")


def check_format_names(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """Every name shape of the repository format is stored and read back."""
    for name in format_names(prefix):
        data = name.encode() + secrets.token_bytes(64)
        backend.put(name, data)
        _expect_bytes(backend.get(name), data, f"get({name!r})")
        _require(backend.stat(name).name == name, f"stat({name!r}) reports another name")


def check_refuse_overwrite(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """put without overwrite never replaces; identical content is success."""
    name = f"{prefix}snapshots/{_hex()}"
    first, second = secrets.token_bytes(300), secrets.token_bytes(300)
    backend.put(name, first)
    _expect_raises(
        AlreadyExistsError,
        f"put({name!r}) over different content",
        lambda: backend.put(name, second),
    )
    _expect_bytes(backend.get(name), first, "content after a refused overwrite")
    backend.put(name, first)  # identical content: success
    _expect_bytes(backend.get(name), first, "content after an identical put")
    _expect_listing(backend, f"{prefix}snapshots/", [name])


def check_overwrite_replaces(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """put(overwrite=True) replaces atomically, also with a shorter object, and creates."""
    name = f"{prefix}keyring"
    backend.put(name, b"old" * 1000)
    for data in (secrets.token_bytes(5000), b"short"):
        backend.put(name, data, overwrite=True)
        _expect_bytes(backend.get(name), data, "content after overwrite=True")
        size = backend.stat(name).size
        _require(size == len(data), f"stat size after overwrite=True is {size}, not {len(data)}")
    fresh = f"{prefix}config"
    backend.put(fresh, b"created", overwrite=True)
    _expect_bytes(backend.get(fresh), b"created", "overwrite=True of a missing object")
    _expect_listing(backend, prefix, [name, fresh])


def check_ranged_reads(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """get(offset, length) returns what exists: short at the end, empty beyond it."""
    name = f"{prefix}data/ab/ab{_hex(31)}"
    data = secrets.token_bytes(1000)
    backend.put(name, data)
    cases = [
        (0, None),
        (1, None),
        (10, 20),
        (0, 1000),
        (999, 1),
        (990, 100),
        (0, 0),
        (500, 0),
        (1000, None),
        (1000, 10),
        (5000, None),
        (5000, 10),
    ]
    for offset, length in cases:
        expected = data[offset:] if length is None else data[offset : offset + length]
        _expect_bytes(
            backend.get(name, offset, length), expected, f"get(offset={offset}, length={length})"
        )


def check_stat_sizes(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """stat reports exact sizes."""
    for size in (0, 1, 4095, 65543):
        name = f"{prefix}index/{_hex()}"
        backend.put(name, secrets.token_bytes(size))
        info = backend.stat(name)
        _require((info.name, info.size) == (name, size), f"stat gave {info}, expected size {size}")


def check_not_found(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """Missing objects raise NotFoundError from get, ranged get, stat and delete."""
    pack = _hex()
    for name in (f"{prefix}config", f"{prefix}data/{pack[:2]}/{pack}"):
        calls: list[tuple[str, Callable[[], object]]] = [
            (f"get({name!r})", partial(backend.get, name)),
            (f"get({name!r}, 10, 5)", partial(backend.get, name, 10, 5)),
            (f"get({name!r}, 0, 0)", partial(backend.get, name, 0, 0)),
            (f"stat({name!r})", partial(backend.stat, name)),
            (f"delete({name!r})", partial(backend.delete, name)),
        ]
        for what, call in calls:
            _expect_raises(NotFoundError, what, call)
    _require(not _listed(backend, f"{prefix}nothing/"), "list of a missing prefix is not empty")


def check_delete(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """delete removes; on a WORM backend only lock files, and locked objects stay."""
    if backend.capabilities().object_lock:
        locked = f"{prefix}snapshots/{_hex()}"
        backend.put(locked, b"snapshot")
        _expect_raises(
            PermanentBackendError, "delete of a locked object", partial(backend.delete, locked)
        )
        _expect_bytes(backend.get(locked), b"snapshot", "locked object after a refused delete")
    name = f"{prefix}locks/{_hex(16)}"
    backend.put(name, b"lock")
    backend.delete(name)
    _expect_raises(NotFoundError, "stat after delete", lambda: backend.stat(name))
    _expect_raises(NotFoundError, "get after delete", lambda: backend.get(name))
    _expect_raises(NotFoundError, "second delete", lambda: backend.delete(name))
    _require(name not in _listed(backend, f"{prefix}locks/"), "deleted object is still listed")
    backend.put(name, b"again")
    _expect_bytes(backend.get(name), b"again", "put after delete")


def check_listing(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """list yields every object under a prefix exactly once, including nested ones."""
    names = format_names(prefix)
    extra_pack = f"{prefix}data/cd/cd{_hex(31)}"
    names.append(extra_pack)
    sizes = {}
    for number, name in enumerate(names):
        data = secrets.token_bytes(number * 7)
        backend.put(name, data)
        sizes[name] = len(data)
    _expect_listing(backend, prefix, names)
    for info in backend.list(prefix):
        _require(info.size == sizes[info.name], f"list size of {info.name}: {info.size}")
    for sub in ("data/", "keys/", "keys/sessions/", "index/", "snapshots/", "locks/"):
        _expect_listing(backend, prefix + sub, [n for n in names if n.startswith(prefix + sub)])
    _expect_listing(backend, f"{prefix}nothing/", [])
    # Listing must leave the backend's sessions usable (e.g. FTP's TYPE A for LIST).
    for name in names:
        size = backend.stat(name).size
        _require(size == sizes[name], f"stat({name!r}) after listing: {size}, not {sizes[name]}")
    _expect_raises(
        AlreadyExistsError, "put over an object after listing", lambda: backend.put(names[0], b"?")
    )


def check_many_keys(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """Listing many keys (paging on object stores) yields each exactly once."""
    names = [f"{prefix}index/{_hex()}" for _ in range(options.many_keys)]
    workers = max(1, min(16, backend.capabilities().connections))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: backend.put(n, n[-8:].encode()), names))
    _expect_listing(backend, f"{prefix}index/", names)
    _expect_listing(backend, prefix, names)


def check_concurrent_puts(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """Threads put at once: distinct names all land; on one name exactly one wins."""
    threads = options.threads
    barrier = threading.Barrier(threads)
    same_name, same_data = f"{prefix}index/{_hex()}", secrets.token_bytes(70_000)
    race_name = f"{prefix}locks/{_hex(16)}"
    contenders = [secrets.token_bytes(50_000) for _ in range(threads)]

    def work(number: int) -> tuple[list[str], bool]:
        mine = []
        barrier.wait(timeout=60)
        for _ in range(3):
            pack = _hex()
            name = f"{prefix}data/{pack[:2]}/{pack}"
            backend.put(name, pack.encode() * 1000)
            mine.append(name)
        backend.put(same_name, same_data)
        barrier.wait(timeout=60)
        try:
            backend.put(race_name, contenders[number])
            won = True
        except AlreadyExistsError:
            won = False
        return mine, won

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    written = [name for mine, _won in results for name in mine]
    for name in written:
        _expect_bytes(backend.get(name), name.rsplit("/", 1)[1].encode() * 1000, f"get({name!r})")
    _expect_bytes(backend.get(same_name), same_data, "object put identically by every thread")
    winners = [number for number, (_mine, won) in enumerate(results) if won]
    _require(len(winners) == 1, f"{len(winners)} threads won the race to create one object")
    _expect_bytes(backend.get(race_name), contenders[winners[0]], "content of the raced object")
    _expect_listing(backend, prefix, [*written, same_name, race_name])


def check_large_object(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """A large object (a pack) round-trips, whole and in ranges."""
    name = f"{prefix}data/ef/ef{_hex(31)}"
    size = options.large_mib * MIB
    data = secrets.token_bytes(size)
    backend.put(name, data)
    stat_size = backend.stat(name).size
    _require(stat_size == size, f"stat size of the large object is {stat_size}, not {size}")
    got = backend.get(name)
    _require(
        hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
        f"large object read back differs ({len(got)} of {size} bytes)",
    )
    middle = size // 3 + 3
    _expect_bytes(backend.get(name, middle, MIB), data[middle : middle + MIB], "ranged read")
    _expect_bytes(backend.get(name, size - 100, MIB), data[-100:], "read past the end")


def check_temporaries(backend: Backend, prefix: str, options: ContractOptions) -> None:
    """Finished puts leave no temporary object; only temporary names are listed as such,
    and ``delete_temporary`` refuses any other name (object stores list none)."""
    names = format_names(prefix)
    for name in names:
        backend.put(name, name.encode())
    backend.put(names[0], b"replaced", overwrite=True)
    listed = list_temporary(backend)
    for temporary in listed:
        _require(is_temporary_name(temporary.name), f"{temporary.name!r} listed as temporary")
        _require(temporary.size >= 0 and temporary.age_seconds >= 0, f"{temporary} is malformed")
    left = [t.name for t in listed if t.name.startswith(prefix)]
    _require(not left, f"finished puts left temporary objects: {left[:3]}")
    if getattr(backend, "delete_temporary", None) is not None:
        _expect_raises(
            ValueError,
            "delete_temporary of a real object",
            lambda: delete_temporary(backend, names[1]),
        )
    _expect_bytes(backend.get(names[1]), names[1].encode(), "object after delete_temporary refused")


CHECKS: dict[str, Check] = {
    "describe": check_describe,
    "put_get": check_put_get,
    "format_names": check_format_names,
    "refuse_overwrite": check_refuse_overwrite,
    "overwrite_replaces": check_overwrite_replaces,
    "ranged_reads": check_ranged_reads,
    "stat_sizes": check_stat_sizes,
    "not_found": check_not_found,
    "delete": check_delete,
    "listing": check_listing,
    "many_keys": check_many_keys,
    "concurrent_puts": check_concurrent_puts,
    "large_object": check_large_object,
    "temporaries": check_temporaries,
}
