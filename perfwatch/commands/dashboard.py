"""`perfwatch dashboard`: serve the Streamlit app over the results store.

It listens on 127.0.0.1 unless --host says otherwise. Its one write (acknowledge, resolve or
reopen a regression, which silences or revives alerts) is allowed only with write access, decided
here and handed to the app by app_launcher (docs/dashboard.md, "Access"):

- ``--read-only``: no writes;
- a write token (``--write-token`` or PERFWATCH_DASHBOARD_TOKEN): whoever enters it may write;
- neither, on loopback: local users may write, after a confirmation;
- neither, beyond loopback: read-only, with a warning.
"""

from __future__ import annotations

import argparse
import os
import sys

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_db, config, engine

TOKEN_ENV = "PERFWATCH_DASHBOARD_TOKEN"
MIN_TOKEN = 8  # characters: a token that short is guessed, not entered


def register(sub) -> None:
    dash = sub.add_parser("dashboard", help="serve the team dashboard (Streamlit) over the results store")
    dash.add_argument("--port", type=argtypes.port, default=8501, help="port to serve on, 1..65535 (default 8501)")
    dash.add_argument("--host", "--address", dest="host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    access = dash.add_mutually_exclusive_group()
    access.add_argument("--write-token", metavar="TOKEN", default=None,
                        help=f"let whoever enters TOKEN acknowledge, resolve or reopen regressions (or set ${TOKEN_ENV}, "
                             "which keeps it out of the process list)")
    access.add_argument("--read-only", action="store_true", help="no writes from the dashboard at all")
    add_db(dash)
    dash.set_defaults(handler=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from perfwatch.cli import app_launcher as dashboard
    from perfwatch.domain.errors import UsageError
    from perfwatch.store.engine import redact

    token = args.write_token if args.write_token is not None else (os.environ.get(TOKEN_ENV) or None)
    if args.read_only:
        token = None
    elif token is not None and len(token.strip()) < MIN_TOKEN:
        raise UsageError(f"the dashboard's write token (--write-token or ${TOKEN_ENV}) must have at least {MIN_TOKEN} "
                         "characters")
    local = dashboard.is_loopback(args.host)  # UsageError (exit 2) for an address that does not resolve
    access = dashboard.access_mode(local, token, args.read_only)
    dashboard.check_streamlit()  # before touching the database: the likelier problem on a fresh install
    cfg = config(args)
    engine(cfg).dispose()  # a bad URL or an unreachable database fails here, clearly, with exit 2
    url = cfg.resolved_db_url()
    if not local:
        if token is None:
            print(f"perfwatch: warning: listening on {args.host}, beyond this machine, without a write token: anyone who "
                  f"can reach port {args.port} can read these results; the dashboard is read-only (give --write-token "
                  f"or ${TOKEN_ENV} to allow acknowledging from it)", file=sys.stderr)
        else:
            print(f"perfwatch: warning: listening on {args.host}, beyond this machine: anyone who can reach port "
                  f"{args.port} can read these results, and the write token travels unencrypted unless an HTTPS proxy "
                  "fronts the dashboard", file=sys.stderr)
    writes = {"read-only": "read-only", "token": "writes need the write token",
              "confirm": "writes after a confirmation"}[access]
    print(f"perfwatch dashboard on {dashboard.shown_url(args.host, args.port)} over {redact(url)} ({writes}; "
          "Ctrl-C stops it)", file=sys.stderr)
    return dashboard.launch(url, args.port, args.host, access=access, token=token)
