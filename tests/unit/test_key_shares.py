"""SLIP-39 recovery shares: the published vectors, and clear errors for bad share sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import shamir_mnemonic
from shamir_mnemonic.utils import MnemonicError

from keyark.crypto import shares
from keyark.crypto.envelope import new_key
from keyark.crypto.slots import Credentials, unlock
from keyark.errors import UsageError, WrongPasswordError

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "slip39-vectors.json").read_text())


def test_vector_file_is_complete() -> None:
    assert len(VECTORS) == 45
    assert sum(1 for vector in VECTORS if vector[2]) == 15


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_slip39_published_vectors(vector: list[object]) -> None:
    _description, mnemonics, secret_hex, _xprv = vector
    assert isinstance(mnemonics, list) and isinstance(secret_hex, str)
    if secret_hex:
        assert shamir_mnemonic.combine_mnemonics(mnemonics, b"TREZOR") == bytes.fromhex(secret_hex)
    else:
        with pytest.raises(MnemonicError):
            shamir_mnemonic.combine_mnemonics(mnemonics, b"TREZOR")


def test_split_any_threshold_subset_recovers() -> None:
    secret = os.urandom(32)
    share_set = shares.split(secret, 3, 5)
    assert share_set.count == 5 and all(len(m.split()) == 33 for m in share_set.mnemonics)
    for combo in ([0, 1, 2], [4, 2, 0], [1, 3, 4]):
        recovered, identifier = shares.combine([share_set.mnemonics[i] for i in combo])
        assert recovered == secret and identifier == share_set.identifier
    # More than the threshold and messy formatting are fine too.
    messy = ["# comment\n  " + share_set.mnemonics[0].upper().replace(" ", "\n")]
    assert shares.combine(messy + share_set.mnemonics[1:])[0] == secret


def test_split_parameter_checks() -> None:
    with pytest.raises(UsageError, match="threshold must be"):
        shares.split(os.urandom(32), 4, 3)
    with pytest.raises(UsageError, match="threshold of 1"):
        shares.split(os.urandom(32), 1, 3)
    with pytest.raises(UsageError, match="between 1 and 16"):
        shares.split(os.urandom(32), 2, 17)
    assert len(shares.split(os.urandom(32), 1, 1).mnemonics) == 1


def test_too_few_shares_names_the_count() -> None:
    share_set = shares.split(os.urandom(32), 3, 5)
    with pytest.raises(shares.RecoveryShareError, match=r"need 3 shares of split \d+, got 2$"):
        shares.combine(share_set.mnemonics[:2])
    duplicate = share_set.mnemonics[:2] + share_set.mnemonics[:1]
    with pytest.raises(shares.RecoveryShareError, match=r"got 2 \(1 duplicate ignored\)"):
        shares.combine(duplicate)
    with pytest.raises(shares.RecoveryShareError, match="no recovery shares"):
        shares.combine([])


def test_shares_of_two_splits_are_named() -> None:
    first = shares.split(os.urandom(32), 2, 3)
    second = shares.split(os.urandom(32), 2, 3)
    while second.identifier == first.identifier:  # 1 in 32,768
        second = shares.split(os.urandom(32), 2, 3)
    with pytest.raises(shares.RecoveryShareError, match="share 2 comes from a different split"):
        shares.combine([first.mnemonics[0], second.mnemonics[1]])


def test_mistyped_word_is_named_with_its_fix() -> None:
    share_set = shares.split(os.urandom(32), 2, 3)
    words = share_set.mnemonics[1].split()
    original = words[9]
    words[9] = "academic" if original != "academic" else "acid"
    with pytest.raises(shares.RecoveryShareError) as caught:
        shares.combine([share_set.mnemonics[0], " ".join(words)])
    message = str(caught.value)
    assert message.startswith("share 2: word 10 ") and f"fits {original!r}" in message


def test_unknown_word_and_wrong_length() -> None:
    share_set = shares.split(os.urandom(32), 2, 3)
    words = share_set.mnemonics[0].split()
    typo = [*words[:4], "xylophonx", *words[5:]]
    with pytest.raises(shares.RecoveryShareError, match="word 5 'xylophonx' is not a SLIP-39"):
        shares.parse_share(" ".join(typo))
    with pytest.raises(shares.RecoveryShareError, match="share 1 has 32 words"):
        shares.parse_share(" ".join(words[:-1]))
    with pytest.raises(shares.RecoveryShareError, match="empty"):
        shares.parse_share("# only a comment\n")


def test_recovery_slot_opens_with_the_shares_only() -> None:
    root = new_key()
    secret = os.urandom(32)
    share_set = shares.split(secret, 2, 3)
    slot = shares.recovery_slot(root, secret, share_set, "vault")
    assert slot.kind == "recovery" and slot.label == "vault"
    assert slot.params["threshold"] == 2 and slot.params["shares"] == 3
    assert secret.hex() not in slot.to_bytes().decode()
    recovered, identifier = shares.combine(share_set.mnemonics[1:])
    right = Credentials(unlockers={"recovery": shares.unlocker(recovered, identifier)})
    opened, used = unlock([slot], right)
    assert opened == root and used is slot
    # Another split's secret with a forged identifier does not open it.
    wrong = Credentials(unlockers={"recovery": shares.unlocker(os.urandom(32), identifier)})
    with pytest.raises(WrongPasswordError, match="recovery shares opens no key slot"):
        unlock([slot], wrong)
    other = Credentials(unlockers={"recovery": shares.unlocker(recovered, identifier ^ 1)})
    with pytest.raises(WrongPasswordError, match="no key slot of this repository accepts"):
        unlock([slot], other)
