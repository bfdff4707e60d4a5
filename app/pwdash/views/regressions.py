"""Regressions: the list by state, acknowledge / resolve / reopen with a note (the dashboard's only
write, through perfwatch.store.history.set_state), and the command that reproduces each. With
``?run=`` (what alerts link to), the regressions of that run and the commands for its cases."""

from __future__ import annotations

import streamlit as st

from perfwatch.domain.errors import PerfwatchError
from pwdash import data
from pwdash.params import choose
from pwdash.views.common import regression_table

STATES = ("open", "acknowledged", "resolved", "all")
ACTIONS = {"Acknowledge": "acknowledged", "Resolve": "resolved", "Reopen": "open"}


def render(url: str) -> None:
    run_id = st.query_params.get("run") or None
    st.header("Regressions" + (f" in run {run_id}" if run_id else ""))
    state = choose("State", STATES, "state", default="all" if run_id else "open")
    regs = data.regressions(url, None if state == "all" else state, run_id)
    if regs.empty:
        st.success(f"No {'' if state == 'all' else state + ' '}regressions" + (f" in run {run_id}." if run_id else "."))
    else:
        regression_table(regs)
        _actions(url, regs)
    if run_id:
        _run_cases(url, run_id)


def _actions(url: str, regs) -> None:
    st.subheader("Acknowledge or resolve")
    names = {r.id: f"#{r.id} {r.suite}/{r.benchmark} [{r.mode}] {r.metric} {r.change * 100:+.1f}% on {r.hostname} ({r.state})"
             for r in regs.itertuples()}
    rid = st.selectbox("Regression", list(names), format_func=names.get, key="act_regression")
    row = regs[regs["id"] == rid].iloc[0]
    st.markdown("Reproduce it:")
    st.code(row["reproduce"], language="bash")
    with st.form("act_form", clear_on_submit=True):
        note = st.text_input("Note (why, link to an issue)", value=row["note"] or "")
        cols = st.columns(len(ACTIONS))
        clicked = [name for col, name in zip(cols, ACTIONS) if col.form_submit_button(name)]
    if clicked:
        try:
            data.set_state(url, int(rid), ACTIONS[clicked[0]], note)
        except PerfwatchError as exc:
            st.error(f"Could not update regression #{rid}: {exc}")
            return
        st.toast(f"Regression #{rid}: {ACTIONS[clicked[0]]}")
        st.rerun()


def _run_cases(url: str, run_id: str) -> None:
    info = data.run_info(url, run_id)
    if info is None:
        st.warning(f"No run {run_id} in this database.")
        return
    st.subheader(f"Cases of run {run_id}")
    st.caption(f"{info['suite']} on {info['machine']} ({info['backend']}, size {info['size']}), "
               f"{info['created_at']:%Y-%m-%d %H:%M} UTC, commit {(info['git_sha'] or '')[:10]}, torch {info['torch_version']}")
    cases = data.run_cases(url, run_id)
    st.dataframe(cases[["benchmark", "mode", "status", "error", "duration_s", "reproduce"]], hide_index=True)
    _verdicts(url, run_id)


def _verdicts(url: str, run_id: str) -> None:
    """What the history gate judged in this run, and what it could not have seen."""
    verdicts = data.run_verdicts(url, run_id)
    if verdicts.empty:
        return
    st.subheader("What the gate could see")
    st.caption("Each series against its own earlier runs; false alarms bounded for the whole run. *detectable*: the "
               "smallest worsening the gate would have flagged here; *too noisy* series could not be judged.")
    st.dataframe(verdicts, hide_index=True, column_config={
        "change": st.column_config.NumberColumn("change", format="percent"),
        "detectable": st.column_config.NumberColumn("detectable", format="percent"),
        "noise": st.column_config.NumberColumn("noise (1 run)", format="percent"),
        "before": st.column_config.NumberColumn("baseline", format="%.4g"),
        "after": st.column_config.NumberColumn("this run", format="%.4g"),
    })
