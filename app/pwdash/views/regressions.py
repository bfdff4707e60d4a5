"""Regressions: the list by state, acknowledge / resolve / reopen with a note (the dashboard's only
write, through perfwatch.store.history.set_state; it acts on the whole finding, as the CLI does), and the command that reproduces each. With
``?run=`` (what alerts link to), the regressions of that run and the commands for its cases.

A write silences or revives alerts, so it takes two steps: pick the action, then confirm it (and,
when the dashboard was started with a write token, enter the token). A read-only dashboard offers
no action at all (pwdash.access)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from perfwatch.domain.errors import PerfwatchError
from perfwatch.domain.units import figure
from pwdash import access, data
from pwdash.params import choose
from pwdash.safe import md
from pwdash.views.common import regression_table

STATES = ("open", "acknowledged", "resolved", "all")
ACTIONS = {"Acknowledge": "acknowledged", "Resolve": "resolved", "Reopen": "open"}


def render(url: str) -> None:
    run_id = st.query_params.get("run") or None
    st.header("Regressions" + (f" in run {md(run_id)}" if run_id else ""))
    state = choose("State", STATES, "state", default="all" if run_id else "open")
    regs = data.regressions(url, None if state == "all" else state, run_id)
    if regs.empty:
        st.success(f"No {'' if state == 'all' else state + ' '}regressions" + (f" in run {md(run_id)}." if run_id else "."))
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
    mode = access.mode()
    if mode == "read-only":
        st.info(f"This dashboard is read-only. Acknowledge from the command line (`perfwatch regressions --ack {int(rid)} "
                "--note ...`), or start the dashboard with a write token (`perfwatch dashboard --write-token ...`).")
        return
    pending = st.session_state.get("act_pending")
    if pending and pending["id"] in names:
        _confirm(url, pending, names[pending["id"]], mode)
        return
    with st.form("act_form", clear_on_submit=True):
        note = st.text_input("Note (why, link to an issue)", value=row["note"] or "")
        cols = st.columns(len(ACTIONS))
        clicked = [name for col, name in zip(cols, ACTIONS) if col.form_submit_button(name)]
    if clicked:  # nothing is written yet: the next run asks for a confirmation
        st.session_state["act_pending"] = {"id": int(rid), "action": clicked[0], "note": note}
        st.rerun()


def _confirm(url: str, pending: dict, name: str, mode: str) -> None:
    """The second step of a write: what will change, the token if one is needed, Confirm or Cancel."""
    rid, action = pending["id"], pending["action"]
    ids = data.finding_ids(url, rid)  # the whole finding: its other figures moved for the same cause
    effect = " Its alerts stop until it is reopened." if ACTIONS[action] != "open" else ""
    note = f" with the note “{md(pending['note'])}”" if pending["note"] else ""
    more = (f" and {len(ids) - 1} more of its finding ({', '.join(f'#{i}' for i in ids[1:])})"
            if len(ids) > 1 else "")
    st.warning(f"{action} regression {md(name)}{more}{note}?{effect}")
    with st.form("act_confirm"):
        entered = st.text_input("Write token", type="password", key="act_token") if mode == "token" else None
        c1, c2 = st.columns(2)
        confirmed = c1.form_submit_button(f"Confirm: {action.lower()}", type="primary")
        cancelled = c2.form_submit_button("Cancel")
    if cancelled:
        st.session_state.pop("act_pending", None)
        st.rerun()
    if not confirmed:
        return
    if mode == "token" and not access.token_ok(entered):
        st.error("Wrong write token: nothing was changed.")
        return
    st.session_state.pop("act_pending", None)
    try:
        for i in ids:
            data.set_state(url, i, ACTIONS[action], pending["note"])
    except PerfwatchError as exc:
        st.error(f"Could not update regression #{rid}: {md(exc)}")
        return
    st.toast(f"Regression #{rid}" + (f" and {len(ids) - 1} more" if len(ids) > 1 else "") + f": {ACTIONS[action]}")
    st.rerun()


def _run_cases(url: str, run_id: str) -> None:
    info = data.run_info(url, run_id)
    if info is None:
        st.warning(f"No run {md(run_id)} in this database.")
        return
    st.subheader(f"Cases of run {md(run_id)}")
    st.caption(f"{md(info['suite'])} on {md(info['machine'])} ({md(info['backend'])}, size {md(info['size'])}), "
               f"{info['created_at']:%Y-%m-%d %H:%M} UTC, commit {md((info['git_sha'] or '')[:10])}, "
               f"torch {md(info['torch_version'])}")
    cases = data.run_cases(url, run_id)
    st.dataframe(cases[["benchmark", "mode", "status", "error", "duration_s", "reproduce"]], hide_index=True,
                 column_config={"duration_s": st.column_config.NumberColumn("duration", format="%.1f s")})
    _verdicts(url, run_id)


def _verdicts(url: str, run_id: str) -> None:
    """What the history gate judged in this run, and what it could not have seen."""
    verdicts = data.run_verdicts(url, run_id)
    if verdicts.empty:
        return
    st.subheader("What the gate could see")
    st.caption("Each series against its own earlier runs; false alarms bounded for the whole run. *detectable*: the "
               "smallest worsening the gate would have flagged here; *too noisy* series could not be judged.")
    def shown(col):  # figures with their units (2.44 GiB, 42.7 ms); "-" where the gate had none
        return [figure(v, u or "") if v is not None and pd.notna(v) else "-"
                for v, u in zip(verdicts[col], verdicts["unit"])]

    verdicts = verdicts.assign(before=shown("before"), after=shown("after"))
    st.dataframe(verdicts, hide_index=True, column_config={
        "change": st.column_config.NumberColumn("change", format="percent"),
        "detectable": st.column_config.NumberColumn("detectable", format="percent"),
        "noise": st.column_config.NumberColumn("noise (1 run)", format="percent"),
        "before": st.column_config.TextColumn("baseline"),
        "after": st.column_config.TextColumn("this run"),
    })
