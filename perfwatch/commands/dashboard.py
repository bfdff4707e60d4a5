"""`perfwatch dashboard`: serve the Streamlit app over the results store."""

from __future__ import annotations

import argparse
import sys

from perfwatch.commands.common import add_db, config, engine


def register(sub) -> None:
    dash = sub.add_parser("dashboard", help="serve the team dashboard (Streamlit) over the results store")
    dash.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    dash.add_argument("--address", default=None, help="address to listen on (default: all interfaces)")
    add_db(dash)
    dash.set_defaults(handler=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from perfwatch.cli import app_launcher as dashboard
    from perfwatch.store.engine import redact

    dashboard.check_streamlit()  # before touching the database: the likelier problem on a fresh install
    cfg = config(args)
    engine(cfg).dispose()  # a bad URL or an unreachable database fails here, clearly, with exit 2
    url = cfg.resolved_db_url()
    print(f"perfwatch dashboard on http://localhost:{args.port}/ over {redact(url)} (Ctrl-C stops it)", file=sys.stderr)
    return dashboard.launch(url, args.port, args.address)
