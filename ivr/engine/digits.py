"""Spoken digits: the closed grammar of a collect node and what an utterance of it means.

Callers read numbers digit by digit: 零一二三四五六七八九, and on the phone 幺 for 1 (so it
is not mistaken for 七) and 两 for 2. A collect node's grammar is these words (plus the
global commands), so the recognizer can only hear digits there; `spoken_digits` turns an
utterance made only of digit words (spaces and punctuation aside; typed Arabic digits too)
into its digits, and anything else into None (then it is matched as a command, or it is a
no-match).
"""

from __future__ import annotations

from ivr.menu.phrases import normalize

DIGIT_WORDS = {
    "零": "0",
    "〇": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "拐": "7",
    "八": "8",
    "九": "9",
}
"""Each word a caller may say for a digit: 洞 (0) and 拐 (7) are the radio forms some use."""

GRAMMAR = ("零", "一", "幺", "二", "两", "三", "四", "五", "六", "七", "八", "九")
"""The words a collect node's recognizer listens for (the common ones of DIGIT_WORDS)."""


def spoken_digits(text: str) -> str | None:
    """The digits of an utterance of digit words ("幺 三 八" -> "138"), else None."""
    said = normalize(text)
    if not said:
        return None
    found = []
    for char in said:
        if char.isascii() and char.isdigit():
            found.append(char)
        elif char in DIGIT_WORDS:
            found.append(DIGIT_WORDS[char])
        else:
            return None
    return "".join(found)
