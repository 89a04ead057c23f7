"""Text that crosses the network: what we accept in requests, and what we show from answers.

Requests: a field with NUL, control characters or lone surrogates is refused (they break
storage, logs and encodings). Answers: whatever a peer sends is made printable before a
terminal, a log line or a page shows it, so an issuer (or anything pretending to be one) cannot
send terminal escape sequences to the person reading the box's status.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode categories never shown as they are: controls, format characters (bidi overrides
# among them), surrogates, private use, unassigned.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# C0 and C1 controls and DEL; the second form lets CR and LF through. A regular expression,
# not a loop over characters: a CSR is read on every request of the issuer's hot path.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_NEWLINES = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def is_clean_text(text: str, *, allow_newlines: bool = False) -> bool:
    """True when ``text`` encodes as UTF-8 and holds no control character.

    With ``allow_newlines``, CR and LF are allowed (PEM blocks).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    controls = _CONTROLS_BUT_NEWLINES if allow_newlines else _CONTROLS
    return controls.search(text) is None


def printable(value: object, limit: int = 300) -> str:
    """``value`` as one line of printable text of at most ``limit`` characters.

    Controls and invisible format characters become ``?``; runs of whitespace become one space.
    """
    text = str(value)
    out: list[str] = []
    for char in text[: limit * 2]:
        if char.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        out.append("?" if unicodedata.category(char) in _HIDDEN_CATEGORIES else char)
    shown = "".join(out).strip()
    if len(shown) > limit:
        shown = shown[: limit - 1].rstrip() + "…"
    return shown
