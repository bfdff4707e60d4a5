"""perfwatch dashboard (Streamlit). Start it with `perfwatch dashboard [--db URL] [--port N]`.

One app whose view is picked by ``?view=`` (overview, trends, compare, compile, memory,
batch, regressions); every filter is a query parameter too, so any view can be shared as a link.
Presentation only: the data comes from perfwatch.analysis.frames through pwdash.data.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="perfwatch", page_icon="⏱", layout="wide")

from perfwatch.domain.errors import PerfwatchError  # noqa: E402
from perfwatch.store.engine import redact  # noqa: E402
from pwdash import data  # noqa: E402
from pwdash.params import choose  # noqa: E402
from pwdash.safe import code, md  # noqa: E402
from pwdash.views import VIEWS  # noqa: E402

EMPTY_HELP = "This results store has no runs yet. Fill it with real measurements:"
DEMO_HELP = ("or, to try the dashboard, with clearly labelled demo data (machines `demo-*`, runs tagged "
             "`demo=true`):")


def empty_help(url: str) -> None:
    # st.code, not a fenced block in markdown: the URL is shown as typed, whatever it contains.
    st.info(EMPTY_HELP)
    st.code(f"perfwatch run --suite llm --backend cpu --db {url}", language="bash")
    st.markdown(DEMO_HELP)
    st.code(f"perfwatch demo-data --rows 100000 --db {url}\nperfwatch detect --db {url}", language="bash")


def main() -> None:
    url = data.db_url()
    shown_url = redact(url)
    with st.sidebar:
        st.title("perfwatch")
        view = choose("View", list(VIEWS), "view", format_func=lambda v: VIEWS[v][0])
        st.caption(f"Store: {code(shown_url)}")
    try:
        state = data.store_state(url)
    except PerfwatchError as exc:
        st.error(f"Cannot open the results database {code(shown_url)}.\n\n{md(exc)}")
        st.info("Check the URL given with `--db` or PERFWATCH_DB_URL (e.g. `sqlite:///path/to/perfwatch.db` or "
                "`postgresql+psycopg://user@host/db`) and that the database server is up.")
        return
    if state != "ok":
        if state == "unmigrated":
            st.warning("This database has no perfwatch tables yet; `perfwatch db upgrade` creates them.")
        empty_help(shown_url)
        return
    try:
        machines = data.catalog(url)["machine"].dropna()
        if len(machines) and machines.str.startswith("demo-").all():
            st.sidebar.warning("Demo data (`perfwatch demo-data`): not real measurements.")
        VIEWS[view][1].render(url)
    except PerfwatchError as exc:  # e.g. the database went away mid-session: say so, not a trace
        st.error(f"The results database {code(shown_url)} failed: {md(exc)}")


main()
