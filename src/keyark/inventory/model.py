"""The inventory's interface: findings, inventories, candidates, recognition, linking.

- :class:`Finding` / :class:`Inventory`: the recorded facts (validated when read back);
- :func:`is_candidate`: the cheap test the backup runs on every file;
- :func:`recognise`: the findings of one candidate file (never raises);
- :func:`link`: cross-file flags over a snapshot's findings (certificate without key,
  key without certificate, expired or expiring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyark.inventory.candidates import HEAD_BYTES, MAX_CANDIDATE_SIZE, is_candidate
from keyark.inventory.finding import FLAGS, KINDS, WEAK_FLAGS, Finding, Inventory
from keyark.inventory.key_facts import normalise_fingerprint
from keyark.inventory.linking import link

if TYPE_CHECKING:
    from keyark.inventory.recognise import parser_failures, recognise

#: Names loaded on first use: the recognisers load ``cryptography``'s X.509 and PKCS#7
#: modules, which reading an inventory (every incremental backup) does not need.
_LAZY = frozenset({"parser_failures", "recognise"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from keyark.inventory import recognise as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FLAGS",
    "HEAD_BYTES",
    "KINDS",
    "MAX_CANDIDATE_SIZE",
    "WEAK_FLAGS",
    "Finding",
    "Inventory",
    "is_candidate",
    "link",
    "normalise_fingerprint",
    "parser_failures",
    "recognise",
]
