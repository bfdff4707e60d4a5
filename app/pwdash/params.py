"""Filters that live in the URL, so a link to a view can be shared.

Each filter is a widget whose value starts from its query parameter (when that is one of the
current options) and is written back to it on every run. Query parameters in use: view, suite,
benchmark, mode (comma-separated), backend, metric, machine, run, run_a, run_b, state.
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
