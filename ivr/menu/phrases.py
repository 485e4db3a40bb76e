"""What callers may say: default command phrases, and the one normal form phrases are compared in.

Recognizers return words separated by spaces ("找回 密码"), callers type with punctuation
("找回密码！"); both must meet the menu's phrase in the same form.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

Phrases = Mapping[str, tuple[str, ...]]
"""Command name (agent, next, yes…) -> what a caller may say for it."""

DEFAULT_GLOBAL_PHRASES: Phrases = MappingProxyType(
    {
        "agent": ("人工客服", "人工", "客服", "转人工", "找人工"),
        "repeat": ("重听", "再说一遍"),
        "back": ("返回", "返回上一级", "上一级"),
        "main": ("主菜单",),
    }
)
DEFAULT_STEP_PHRASES: Phrases = MappingProxyType(
    {"next": ("下一步",), "repeat": ("重听本步", "再说一遍"), "previous": ("上一步",)}
)
DEFAULT_CONFIRM_PHRASES: Phrases = MappingProxyType(
    {"yes": ("是", "对", "是的", "对的"), "no": ("不是", "不对")}
)


@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Lower case, full-width folded to ASCII (NFKC), no spaces or punctuation.

    Cached: the matcher normalizes the same menu phrases for every node that offers them.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")
