"""Bech32 as age uses it: BIP 173 vectors, case rules, no length limit, checksum errors."""

from __future__ import annotations

import os
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picsync.crypto import bech32
from picsync.crypto.errors import KeyFormatError

# BIP 173's valid Bech32 strings (checksum level: the data need not be whole bytes).
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

BIP173_INVALID = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",
    "pzry9x0s0muk",  # no separator
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum computed with an uppercase HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",
]


@pytest.mark.parametrize("text", BIP173_VALID)
def test_bip173_valid_checksums_are_accepted(text: str) -> None:
    hrp, values = bech32.decode_words(text)
    assert hrp == text[: text.rfind("1")]
    assert len(values) == len(text) - len(hrp) - 1 - 6


@pytest.mark.parametrize("text", BIP173_INVALID)
def test_bip173_invalid_strings_are_rejected(text: str) -> None:
    with pytest.raises(KeyFormatError):
        bech32.decode_words(text)


def test_mixed_case_is_rejected_but_either_case_alone_decodes() -> None:
    data = os.urandom(32)
    lower = bech32.encode("age-secret-key-", data)
    upper = bech32.encode("age-secret-key-", data, uppercase=True)
    assert upper == lower.upper()
    assert bech32.decode(lower) == ("age-secret-key-", data)
    assert bech32.decode(upper) == ("AGE-SECRET-KEY-", data)
    mixed = upper[:20] + upper[20:].lower()
    with pytest.raises(KeyFormatError, match="mixes"):
        bech32.decode(mixed)


def test_strings_longer_than_bip173s_90_characters_work() -> None:
    data = os.urandom(200)  # age's post-quantum and plugin keys are far longer than 90
    text = bech32.encode("age1pq", data)
    assert len(text) > 90
    assert bech32.decode(text) == ("age1pq", data)


@settings(max_examples=200)
@given(
    hrp=st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20),
    data=st.binary(max_size=120),
    uppercase=st.booleans(),
)
def test_roundtrip(hrp: str, data: bytes, uppercase: bool) -> None:
    text = bech32.encode(hrp, data, uppercase=uppercase)
    decoded_hrp, decoded = bech32.decode(text)
    assert decoded == data
    assert decoded_hrp == (hrp.upper() if uppercase else hrp)


@settings(max_examples=300)
@given(
    data=st.binary(min_size=32, max_size=32),
    position=st.integers(min_value=4),
    shift=st.integers(1, 31),
)
def test_any_single_character_substitution_fails_the_checksum(
    data: bytes, position: int, shift: int
) -> None:
    text = bech32.encode("age", data)
    index = 4 + position % (len(text) - 4)  # a character of the data or checksum part
    replaced = bech32.CHARSET[(bech32.CHARSET.index(text[index]) + shift) % 32]
    broken = text[:index] + replaced + text[index + 1 :]
    with pytest.raises(KeyFormatError) as failure:
        bech32.decode(broken)
    assert broken not in str(failure.value)


def test_dropped_character_is_detected() -> None:
    text = bech32.encode("age", os.urandom(32))
    with pytest.raises(KeyFormatError):
        bech32.decode(text[:10] + text[11:])


def test_nonzero_padding_bits_are_rejected() -> None:
    # 32 bytes use 52 five-bit words, with 4 padding bits that must be zero. Re-checksum a
    # string whose last data word has a padding bit set: the checksum is valid, the data not.
    hrp, values = bech32.decode_words(bech32.encode("age", bytes(32)))
    values[-1] |= 1
    tampered = bech32.encode_words(hrp, values)
    assert bech32.decode_words(tampered) == (hrp, values)
    with pytest.raises(KeyFormatError, match="padding"):
        bech32.decode(tampered)
