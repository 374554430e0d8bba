"""The inventory's interface: findings, inventories, candidates, recognition, linking.

- :class:`Finding` / :class:`Inventory`: the recorded facts (validated when read back);
- :func:`is_candidate`: the cheap test the backup runs on every file;
- :func:`recognise`: the findings of one candidate file (never raises);
- :func:`link`: cross-file flags over a snapshot's findings (certificate without key,
  key without certificate, expired or expiring).
"""

from __future__ import annotations

from keyark.inventory.candidates import HEAD_BYTES, MAX_CANDIDATE_SIZE, is_candidate
from keyark.inventory.finding import FLAGS, KINDS, WEAK_FLAGS, Finding, Inventory
from keyark.inventory.key_facts import normalise_fingerprint
from keyark.inventory.linking import link
from keyark.inventory.recognise import parser_failures, recognise

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
