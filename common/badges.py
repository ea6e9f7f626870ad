"""A badge's identifier, one rule for the appliance and the hub: the UID (or FeliCa IDm) the reader reads, in
upper-case hexadecimal, of a length the reader's technologies can give.

A site's rule follows the targets its reader polls (config `hardware.reader.targets`): a badge the reader can
never read is refused when typed in, as a mistake. The hub does not know each door's reader, so it takes what any
reader nfcpy drives can read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from common.words import CredentialStatus
from hardware.config import NFC_TARGETS

# What each technology identifies a card by, in bytes: NFC-A (ISO 14443-3A) UIDs are single, double or triple
# size; NFC-B (ISO 14443-3B) PUPIs are 4 bytes; FeliCa IDms are 8.
_LENGTHS = {"A": (4, 7, 10), "B": (4,), "F": (8,)}
_SEPARATORS = re.compile(r"[\s:-]")


class BadgeError(ValueError):
    """Not a badge identifier this rule accepts; the text says why, in French."""


@dataclass(frozen=True)
class BadgeRule:
    """The identifier lengths (in bytes) a reader can give."""

    lengths: frozenset[int]

    @classmethod
    def for_targets(cls, targets: Iterable[str]) -> BadgeRule:
        """The rule of a reader polling `targets` (nfcpy's names: "106A", "212F"...)."""
        return cls(frozenset(n for target in targets for n in _LENGTHS[target[-1]]))

    def normalise(self, raw: str) -> str:
        """'04:a2:3b:1c' or '04a23b1c' -> '04A23B1C'; BadgeError when it is not one this rule accepts."""
        uid = _SEPARATORS.sub("", raw).upper()
        if not re.fullmatch(r"(?:[0-9A-F]{2})+", uid) or len(uid) // 2 not in self.lengths:
            sizes = sorted(self.lengths)
            said = ", ".join(map(str, sizes[:-1])) + (" ou " if len(sizes) > 1 else "") + str(sizes[-1])
            raise BadgeError(f"« {raw} » n'est pas un identifiant de badge ({said} octets en hexadécimal)")
        return uid

    def accepts(self, uid: str) -> bool:
        """Whether `uid`, as stored (upper-case hex, no separators), fits this rule."""
        return len(uid) % 2 == 0 and len(uid) // 2 in self.lengths and re.fullmatch(r"[0-9A-F]+", uid) is not None

    @property
    def pattern(self) -> re.Pattern[str]:
        """The stored form as a regular expression, for checks at the protocol's boundary."""
        return re.compile("|".join(f"[0-9A-F]{{{2 * n}}}" for n in sorted(self.lengths)))


# What any reader halfday drives can read: the hub's rule, and the protocol's.
ANY_READER = BadgeRule.for_targets(NFC_TARGETS)


# Why a badge may not be given to a member (`assignment_refusal`), one code each, shared by the appliance and the
# hub (whose change requests answer with these codes).
BADGE_IN_USE = "uid_in_use"  # active for someone else: taking it would lock them out
BADGE_ALREADY_THEIRS = "already_theirs"  # active for this very member: nothing to do


def assignment_refusal(current_status: str | None, current_member: str | None, to_member: str) -> str | None:
    """Whether a badge (its current status and holder, None when unknown) may be given to `to_member`: None when it
    may, else a code above.

    A badge active for another member is refused: taking it would lock them out. A revoked badge may be given back
    to its member (found again) or given to someone else (the space reuses its badges); the badge history keeps who
    had it. A walk-in's card (active for a pass, no member) may become the badge of the member they become: the
    pass still opens by its code."""
    if current_status != CredentialStatus.ACTIVE or current_member is None:
        return None
    return BADGE_ALREADY_THEIRS if current_member == to_member else BADGE_IN_USE
