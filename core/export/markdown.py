"""Names from files (models, classes, targets, graph nodes) made safe to put in Markdown.

A class folder called ``<img src=x onerror=…>`` or a model named ``**new**``
must read as itself in a bundle's README, not become HTML or formatting — the
Markdown counterpart of the ``html.escape`` the HTML report uses.
"""

from __future__ import annotations

import re

# what can start markup in the middle of a line: HTML and entities, emphasis, code, links, table cells, headings' ends
_PUNCT = re.compile(r"([\\`*_\[\]<>#|~&])")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def text(value: object) -> str:
    """``value`` as literal Markdown text: each mark that could start markup is backslash-escaped, the rest stays readable."""
    return _PUNCT.sub(r"\\\1", _one_line(value))


def code(value: object, in_table: bool = False) -> str:
    """``value`` as an inline code span, whatever backticks it holds (CommonMark: a longer fence, padded)."""
    s = _one_line(value)
    if in_table:
        s = s.replace("|", "\\|")  # a pipe splits a table cell even inside a code span
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def prose(value: object) -> str:
    """EdgeSlim's own sentences that quote names: raw HTML is disarmed, intended `code` and *emphasis* stay."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
