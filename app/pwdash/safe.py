"""Showing text from URLs and from the store as text.

Streamlit renders markdown in st.markdown, st.title/header/subheader, st.caption, st.info/
success/warning/error and st.toast: a run id taken from ``?run=`` or a unit read from the store
could otherwise carry a live link, an image, emphasis or a colour directive into the page.
Every interpolated string goes through ``md`` (or ``code``) first.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one is
# always literal: no link, image, emphasis, code span, heading, list, table, autolink
# (``https\:``, ``www\.``, ``a\@b``), LaTeX (``\$``) or Streamlit directive (``\:red\[``).
_PUNCT = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_SPACE = re.compile(r"\s+")


def md(value) -> str:
    """``value`` as literal text inside markdown, on one line."""
    return _PUNCT.sub(r"\\\1", _SPACE.sub(" ", str(value)).strip())


def code(value) -> str:
    """``value`` as an inline code span whatever backticks it holds (CommonMark: a fence longer
    than any run of backticks inside, padded by spaces). Code spans render no markdown."""
    text = _SPACE.sub(" ", str(value)).strip()
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"
