"""Text shown to people never carries invisible or reordering characters.

Spec values and remote answers end up in plans, problems, errors and progress lines. A value
with a bidirectional override (U+202E) can make a plan line read as something else in a
terminal or a review; zero-width characters can make two different names look the same; raw
control characters can move the cursor or rewrite the screen. :func:`visible` spells every such
character out as ``\\u202e`` (line breaks and tabs stay).
"""

from __future__ import annotations

import re
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


_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
#: An sfdx auth URL holds no quote or bracket: the quotes and brackets around it stay.
_SFDX = re.compile(r"force://[^\s'\"\[\]]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
#: Long tokens, not parts of a path (a folder name like Projects2024Q1Reports stays).
_TOKEN = re.compile(r"(?<![A-Za-z0-9+_=/-])[A-Za-z0-9+_=-]{20,}(?![A-Za-z0-9+_=/-])")


def _secret_like(token: str) -> bool:
    return (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token))


def hide_secret_like(text: str) -> str:
    """``text`` with whatever has the shape of a secret replaced: PEM blocks, sfdx auth URLs,
    JWTs, and long tokens mixing upper case, lower case and digits (API keys, consumer
    secrets, access tokens). For messages that quote what a person wrote (a spec field's
    name or value), where the exact secret is not known beforehand."""
    text = _PEM.sub("(redacted PEM)", text)
    text = _SFDX.sub("force://(redacted)", text)
    text = _JWT.sub("(redacted token)", text)
    return _TOKEN.sub(lambda m: "(redacted)" if _secret_like(m.group()) else m.group(), text)


__all__ = ["hide_secret_like", "visible"]
