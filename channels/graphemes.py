"""Counts user-perceived characters (extended grapheme clusters, UAX #29) with the stdlib only.

Bluesky limits posts to 300 graphemes, so a family emoji or a flag must count as one.
Python's `unicodedata` lacks the Grapheme_Cluster_Break property, so the classes are derived
from general categories plus the few explicit ranges the rules need. Covered: CR LF, controls,
combining marks and variation selectors, spacing marks, ZWJ emoji sequences, skin-tone
modifiers, tag sequences, regional-indicator flags, Hangul syllables and Indic conjuncts (GB9c)
for the six scripts Unicode 15.1 lists. Not covered: Prepend characters (a few rare scripts),
which only makes a post count longer than it is, so we refuse, never overrun.
"""

from __future__ import annotations

import unicodedata

_CR, _LF, _CONTROL, _EXTEND, _ZWJ, _SPACING, _RI, _L, _V, _T, _LV, _LVT, _PICT, _OTHER = range(14)

# Extended_Pictographic blocks (emoji and most pictographic symbols), regional indicators
# and skin-tone modifiers excluded below.
_PICT_RANGES = ((0x2194, 0x21AA), (0x231A, 0x23FF), (0x25AA, 0x27BF), (0x2934, 0x2935),
                (0x2B05, 0x2B55), (0x1F000, 0x1FAFF), (0x1FC00, 0x1FFFD))
_PICT_SINGLES = {0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297,
                 0x3299}


_LINKERS = {0x094D, 0x09CD, 0x0ACD, 0x0B4D, 0x0C4D, 0x0D4D}  # viramas with InCB=Linker
_CONSONANT_BLOCKS = {0x0900, 0x0980, 0x0A80, 0x0B00, 0x0C00, 0x0D00}


def _incb_consonant(cp: int) -> bool:
    """Approximates InCB=Consonant: the letters KA..HA (and nukta forms) of the six scripts."""
    if cp & ~0x7F not in _CONSONANT_BLOCKS:
        return False
    offset = cp & 0x7F
    return 0x15 <= offset <= 0x39 or 0x58 <= offset <= 0x5F or 0x78 <= offset <= 0x7F


def _hangul(cp: int) -> int | None:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    return None


def _category_class(ch: str, cp: int) -> int:
    category = unicodedata.category(ch)
    if category in ("Mn", "Me") or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return _EXTEND
    if cp == 0x200C or 0xFF9E <= cp <= 0xFF9F:
        return _EXTEND
    if category == "Mc" or cp in (0x0E33, 0x0EB3):
        return _SPACING
    if category in ("Cc", "Zl", "Zp", "Cf"):
        return _CONTROL
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if cp in _PICT_SINGLES or any(lo <= cp <= hi for lo, hi in _PICT_RANGES):
        return _PICT if category in ("So", "Sm", "Cn", "Po") else _OTHER
    hangul = _hangul(cp)
    return _OTHER if hangul is None else hangul


def _class(ch: str) -> int:
    cp = ord(ch)
    if cp == 0x0D:
        return _CR
    if cp == 0x0A:
        return _LF
    if cp == 0x200D:
        return _ZWJ
    return _category_class(ch, cp)


_HANGUL_JOINS = {(_L, _L), (_L, _V), (_L, _LV), (_L, _LVT), (_LV, _V), (_LV, _T), (_V, _V),
                 (_V, _T), (_LVT, _T), (_T, _T)}


def _joins(prev: int, cur: int, pict_zwj: bool, ri_odd: bool) -> bool:
    """Whether there is no boundary between two code points (rules GB3-GB13)."""
    if prev == _CR and cur == _LF:
        return True
    if prev in (_CR, _LF, _CONTROL) or cur in (_CR, _LF, _CONTROL):
        return False
    if (prev, cur) in _HANGUL_JOINS or cur in (_EXTEND, _ZWJ, _SPACING):
        return True
    if prev == _ZWJ and cur == _PICT:
        return pict_zwj
    return prev == _RI and cur == _RI and ri_odd


def _conjunct_state(state: int, cp: int, cls: int) -> int:
    if _incb_consonant(cp):
        return 1
    if state and cp in _LINKERS:
        return 2
    if state and cls in (_EXTEND, _ZWJ):
        return state
    return 0


def count_graphemes(text: str) -> int:
    """The number of extended grapheme clusters in `text`."""
    count = 0
    prev = None
    in_pict = False      # inside Extended_Pictographic Extend* (ZWJ)?, for GB11
    ri_run = 0           # regional indicators in a row, for GB12/GB13
    conjunct = 0         # GB9c: 0 none, 1 after a consonant, 2 after consonant ... linker
    for ch in text:
        cur = _class(ch)
        cp = ord(ch)
        glued = conjunct == 2 and _incb_consonant(cp)
        if prev is None or not (glued or _joins(prev, cur, in_pict and prev == _ZWJ,
                                                 ri_run % 2 == 1)):
            count += 1
        conjunct = _conjunct_state(conjunct, cp, cur)
        if cur == _PICT:
            in_pict = True
        elif not (in_pict and cur in (_EXTEND, _ZWJ) and prev != _ZWJ):
            in_pict = False
        ri_run = ri_run + 1 if cur == _RI else 0
        prev = cur
    return count
