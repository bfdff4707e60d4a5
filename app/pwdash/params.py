"""Filters that live in the URL, so a link to a view can be shared.

Each filter is a widget whose value starts from its query parameter (when that is one of the
current options) and is written back to it on every run. Query parameters in use: view, suite,
benchmark, mode (comma-separated), backend, metric, machine, run, run_a, run_b, state, range.
"""

from __future__ import annotations

from typing import Callable, Sequence
from urllib.parse import urlencode

import streamlit as st


def _key(param: str) -> str:
    return f"q_{param}"


def choose(label: str, options: Sequence, param: str, default=None, where=st,
           format_func: Callable = str, help: str | None = None):
    """A selectbox bound to ``?param=``; None when there is nothing to choose from."""
    options = list(options)
    if not options:
        st.query_params.pop(param, None)
        where.selectbox(label, ["(none)"], disabled=True, key=_key(param) + "_empty")
        return None
    key = _key(param)
    if st.session_state.get(key) not in options:
        # First run, or the options changed under it (another filter moved): take the URL's
        # value, else the default, else the first option.
        wanted = _coerce(st.query_params.get(param), options)
        st.session_state[key] = wanted if wanted is not None else (default if default in options else options[0])
    value = where.selectbox(label, options, key=key, format_func=format_func, help=help)
    st.query_params[param] = str(value)
    return value


def choose_many(label: str, options: Sequence[str], param: str, default: Sequence[str] | None = None, where=st) -> list[str]:
    """A multiselect bound to ``?param=a,b``."""
    options = list(options)
    key = _key(param)
    current = st.session_state.get(key)
    if current is None or not set(current) <= set(options):
        wanted = [v for v in (st.query_params.get(param) or "").split(",") if v in options]
        st.session_state[key] = wanted or [v for v in (default if default is not None else options) if v in options]
    values = where.multiselect(label, options, key=key)
    st.query_params[param] = ",".join(values)
    return values


# ?range=: how much history the charts plot, counted back from the newest point shown (not from
# now: a store that stopped receiving runs still shows its last weeks rather than an empty chart)
RANGES = {"7d": ("last 7 days", 7), "30d": ("last 30 days", 30), "90d": ("last 90 days", 90), "all": ("all", None)}


def choose_range(where=st, default: str = "90d") -> int | None:
    """The time-range picker bound to ``?range=``: days of history to plot, None for all."""
    key = _key("range")
    if st.session_state.get(key) not in RANGES:
        wanted = st.query_params.get("range")
        st.session_state[key] = wanted if wanted in RANGES else default
    value = where.radio("Time range", list(RANGES), key=key, horizontal=True, format_func=lambda r: RANGES[r][0],
                        help="History plotted, counted back from the newest point")
    st.query_params["range"] = value
    return RANGES[value][1]


def _coerce(value: str | None, options: list):
    if value is None:
        return None
    for o in options:
        if str(o) == value:
            return o
    return None


def link(**query: str) -> str:
    """A relative link to a view of this dashboard with these filters."""
    return "?" + urlencode({k: v for k, v in query.items() if v is not None})
