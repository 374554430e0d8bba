"""Recovery slots: KR wrapped by a random secret split into SLIP-39 mnemonic shares.

``split`` makes M-of-N shares of a fresh 32-byte recovery secret with the
``shamir-mnemonic`` reference implementation (33 words each). The recovery
slot stores only public facts (threshold, share count, the split's SLIP-39
identifier, a salt); its key-encryption key is HKDF-SHA256 of the secret.
``combine`` checks every share before combining, so a mistyped word, a share
from another split or too few shares each give one message naming the problem.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.keyfile import derive_kek
from keyark.crypto.slots import KeySlot, wrap_root_key
from keyark.errors import FormatError, UsageError

if TYPE_CHECKING:
    from shamir_mnemonic.share import Share

# shamir_mnemonic is imported where a split, a share or a recovery needs it: unlocking a
# repository with a key file (the same slot machinery) must not pay for it.

RECOVERY = "recovery"
SECRET_SIZE = 32
MAX_SHARES = 16
_INFO = b"keyark recovery slot v1"


class RecoveryShareError(UsageError):
    """A recovery share is malformed, mistyped, from another split, or too few were given."""


@dataclass(frozen=True)
class ShareSet:
    """The shares of one split and its public parameters."""

    identifier: int
    threshold: int
    mnemonics: list[str] = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.mnemonics)


def split(secret: bytes, threshold: int, count: int) -> ShareSet:
    """Split ``secret`` into ``count`` SLIP-39 shares, any ``threshold`` of which recover it."""
    if not 1 <= count <= MAX_SHARES:
        raise UsageError(f"the number of shares must be between 1 and {MAX_SHARES}")
    if not 1 <= threshold <= count:
        raise UsageError(f"the threshold must be between 1 and the number of shares ({count})")
    if threshold == 1 and count > 1:
        raise UsageError(
            "a threshold of 1 would make every share a full copy of the key; "
            "use a threshold of 2 or more (or a single share)"
        )
    import shamir_mnemonic
    from shamir_mnemonic.share import Share

    mnemonics = shamir_mnemonic.generate_mnemonics(1, [(threshold, count)], secret)[0]
    identifier = Share.from_mnemonic(mnemonics[0]).identifier
    return ShareSet(identifier, threshold, list(mnemonics))


def normalize(text: str) -> str:
    """One share from free text: drop ``#`` comment lines, lower-case, single spaces."""
    words: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        words.extend(line.lower().replace(",", " ").split())
    return " ".join(words)


def parse_share(mnemonic: str, position: int = 1) -> Share:
    """Decode one share; the error names the share and, where it can, the bad word."""
    from shamir_mnemonic.share import Share
    from shamir_mnemonic.utils import MnemonicError
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

    words = normalize(mnemonic).split()
    where = f"share {position}"
    if not words:
        raise RecoveryShareError(f"{where} is empty")
    for number, word in enumerate(words, start=1):
        if word not in WORD_INDEX_MAP:
            close = difflib.get_close_matches(word, WORDLIST, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecoveryShareError(f"{where}: word {number} {word!r} is not a SLIP-39 word{hint}")
    try:
        return Share.from_mnemonic(" ".join(words))
    except MnemonicError as error:
        if "checksum" in str(error):
            raise RecoveryShareError(f"{where}: {_mistyped(words)}") from None
        if "length" in str(error):
            raise RecoveryShareError(
                f"{where} has {len(words)} words; a keyark recovery share has 33"
            ) from None
        raise RecoveryShareError(f"{where} is not a valid SLIP-39 share ({error})") from None


def _mistyped(words: list[str]) -> str:
    """Name the one word whose replacement makes the checksum valid, when there is one.

    The RS1024 checksum (minimum distance 4) corrects any single wrong word, and the
    code is affine over GF(2), so each position's correction solves in 1,024 XORs.
    """
    from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

    indices = [WORD_INDEX_MAP[word] for word in words]
    fixes: set[tuple[int, str]] = set()
    for customization in (b"shamir_extendable", b"shamir"):
        values = list(customization) + indices
        target = _polymod(values) ^ 1
        if target == 0:
            continue
        offset = len(customization)
        for position in range(len(indices)):
            basis = [_delta(len(values), offset + position, 1 << bit) for bit in range(10)]
            for delta in range(1, 1024):
                effect = 0
                for bit in range(10):
                    if delta >> bit & 1:
                        effect ^= basis[bit]
                if effect == target:
                    fixes.add((position, WORDLIST[indices[position] ^ delta]))
    if len(fixes) == 1:
        position, fix = fixes.pop()
        return (
            f"word {position + 1} {words[position]!r} is mistyped (the checksum fits {fix!r} there)"
        )
    return "a word is mistyped (the share's checksum does not match)"


#: The RS1024 generator of SLIP-39 (from the specification).
_GEN = (
    0xE0E040, 0x1C1C080, 0x3838100, 0x7070200, 0xE0E0009,
    0x1C0C2412, 0x38086C24, 0x3090FC48, 0x21B1F890, 0x3F3F120,
)  # fmt: skip


def _polymod(values: Sequence[int], start: int = 1) -> int:
    chk = start
    for value in values:
        top = chk >> 20
        chk = (chk & 0xFFFFF) << 10 ^ value
        for i in range(10):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _delta(length: int, position: int, value: int) -> int:
    """How the checksum residue changes when ``value`` is XORed in at ``position``."""
    return _polymod([value] + [0] * (length - position - 1), start=0)


def combine(mnemonics: Sequence[str]) -> tuple[bytes, int]:
    """Recover the secret and the split identifier from at least ``threshold`` shares."""
    if not mnemonics:
        raise RecoveryShareError("no recovery shares given")
    parsed = [parse_share(text, position) for position, text in enumerate(mnemonics, start=1)]
    first = parsed[0]
    for position, share in enumerate(parsed[1:], start=2):
        if share.common_parameters() != first.common_parameters() or (
            share.group_parameters() != first.group_parameters()
        ):
            raise RecoveryShareError(
                f"share {position} comes from a different split than share 1 "
                f"(split {share.identifier} vs {first.identifier}); use shares of one split"
            )
    distinct = {share.index: share for share in parsed}
    needed = first.member_threshold
    if len(distinct) < needed:
        duplicates = len(parsed) - len(distinct)
        extra = (
            f" ({duplicates} duplicate{'s' if duplicates > 1 else ''} ignored)"
            if duplicates
            else ""
        )
        raise RecoveryShareError(
            f"need {needed} shares of split {first.identifier}, got {len(distinct)}{extra}"
        )
    texts = [normalize(mnemonics[parsed.index(share)]) for share in distinct.values()]
    import shamir_mnemonic
    from shamir_mnemonic.utils import MnemonicError

    try:
        secret = shamir_mnemonic.combine_mnemonics(texts[:needed])
    except MnemonicError as error:
        raise RecoveryShareError(f"the shares do not combine ({error})") from None
    return secret, first.identifier


def recovery_slot(root: SymmetricKey, secret: bytes, shares: ShareSet, label: str = "") -> KeySlot:
    """A new slot that the recovery secret (and so any ``threshold`` shares) opens."""
    salt = os.urandom(16)
    params = {
        "salt": salt.hex(),
        "identifier": shares.identifier,
        "threshold": shares.threshold,
        "shares": shares.count,
        "scheme": "slip39",
    }
    return wrap_root_key(root, RECOVERY, params, derive_kek(secret, salt, _INFO), label)


def unlocker(secret: bytes, identifier: int) -> Callable[[KeySlot], bytes | None]:
    """The unlocker for recovery slots of the split ``identifier``."""

    def kek_for(slot: KeySlot) -> bytes | None:
        try:
            if int(slot.params["identifier"]) != identifier:
                return None
            salt = bytes.fromhex(str(slot.params["salt"]))
        except (KeyError, ValueError, TypeError) as error:
            raise FormatError(f"key slot {slot.slot_id} is malformed ({error})") from None
        return derive_kek(secret, salt, _INFO)

    return kek_for


__all__ = [
    "RECOVERY",
    "RecoveryShareError",
    "ShareSet",
    "combine",
    "normalize",
    "parse_share",
    "recovery_slot",
    "split",
    "unlocker",
]
