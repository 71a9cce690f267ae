"""Text shown to people never carries invisible or reordering characters.

Spec values and remote answers end up in plans, problems, errors and progress lines. A value
with a bidirectional override (U+202E) can make a plan line read as something else in a
terminal or a review; zero-width characters can make two different names look the same; raw
control characters can move the cursor or rewrite the screen. :func:`visible` spells every such
character out as ``\\u202e`` (line breaks and tabs stay).
"""

from __future__ import annotations

import unicodedata

_KEEP = frozenset("\n\t")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


def _is_hidden(ch: str) -> bool:
    return ch not in _KEEP and unicodedata.category(ch) in _HIDDEN_CATEGORIES


def visible(text: str) -> str:
    """``text`` with control, format (bidi, zero-width) and separator characters escaped."""
    if text.isascii() and all(" " <= ch <= "~" or ch in _KEEP for ch in text):
        return text
    return "".join(f"\\u{ord(ch):04x}" if _is_hidden(ch) else ch for ch in text)


__all__ = ["visible"]
