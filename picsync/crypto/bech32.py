"""Pure: Bech32 (BIP 173) encoding as age uses it for recipients and identities.

age keeps the original Bech32 checksum constant (not Bech32m) and drops BIP 173's 90-character
limit. The checksum is always computed over the lowercase form; a string may be all lowercase or
all uppercase (identities are written uppercase), never mixed.
"""

from __future__ import annotations

from picsync.crypto.errors import KeyFormatError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUE = {char: value for value, char in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LENGTH = 6


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    accumulator = 0
    bit_count = 0
    result: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bit_count += from_bits
        while bit_count >= to_bits:
            bit_count -= to_bits
            result.append((accumulator >> bit_count) & max_value)
    if pad:
        if bit_count:
            result.append((accumulator << (to_bits - bit_count)) & max_value)
    elif bit_count >= from_bits or (accumulator << (to_bits - bit_count)) & max_value:
        # BIP 173: at most 4 bits of padding, all zero; anything else is a different string.
        raise KeyFormatError("key has invalid padding bits (a character is mistyped)")
    return result


def encode_words(hrp: str, values: list[int], *, uppercase: bool = False) -> str:
    """Bech32-encode 5-bit ``values`` under ``hrp`` (the checksum is over the lowercase form)."""
    hrp = hrp.lower()
    checksum = _polymod([*_expand_hrp(hrp), *values, *[0] * _CHECKSUM_LENGTH]) ^ 1
    checksum_values = [(checksum >> 5 * (5 - index)) & 31 for index in range(_CHECKSUM_LENGTH)]
    text = hrp + "1" + "".join(CHARSET[value] for value in [*values, *checksum_values])
    return text.upper() if uppercase else text


def encode(hrp: str, data: bytes, *, uppercase: bool = False) -> str:
    """Bech32-encode ``data`` under the human-readable part ``hrp``."""
    return encode_words(hrp, _convert_bits(data, 8, 5, pad=True), uppercase=uppercase)


def decode_words(text: str) -> tuple[str, list[int]]:
    """Check a Bech32 string; return its human-readable part (case kept) and 5-bit words.

    Raises KeyFormatError, whose message never repeats the string: it may be a secret key.
    """
    if any(ord(char) < 33 or ord(char) > 126 for char in text):
        raise KeyFormatError("key contains spaces or characters that cannot appear in a key")
    if text.lower() != text and text.upper() != text:
        raise KeyFormatError("key mixes upper- and lowercase letters")
    separator = text.rfind("1")
    if separator < 1 or separator + 1 + _CHECKSUM_LENGTH > len(text):
        raise KeyFormatError("key is too short or lacks its '1' separator")
    lowered = text.lower()
    try:
        values = [_CHAR_VALUE[char] for char in lowered[separator + 1 :]]
    except KeyError:
        raise KeyFormatError("key contains a character that Bech32 does not use") from None
    if _polymod(_expand_hrp(lowered[:separator]) + values) != 1:
        raise KeyFormatError("key has a bad checksum (a character is mistyped or missing)")
    return text[:separator], values[:-_CHECKSUM_LENGTH]


def decode(text: str) -> tuple[str, bytes]:
    """Split a Bech32 string into its human-readable part (case kept) and its bytes."""
    hrp, values = decode_words(text)
    return hrp, bytes(_convert_bits(values, 5, 8, pad=False))
