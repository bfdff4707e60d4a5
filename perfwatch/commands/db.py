"""`perfwatch db upgrade | current`: database maintenance."""

from __future__ import annotations

import argparse

from perfwatch.commands.common import add_db, config
from perfwatch.domain.errors import EXIT_OK, UsageError


def register(sub) -> None:
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    for name, text in (("upgrade", "apply the schema migrations"), ("current", "print the schema revision")):
        p = dbsub.add_parser(name, help=text)
        if name == "upgrade":
            p.add_argument("--into-existing", action="store_true",
                           help="create perfwatch's tables in a database that already holds other tables")
        add_db(p)
    db.set_defaults(handler=cmd_db)


def cmd_db(args: argparse.Namespace) -> int:
    from perfwatch.store.engine import check_connection, make_engine, redact, reject_in_memory
    from perfwatch.store.migrate import check_not_foreign, current_revision, head_revision, upgrade

    if args.db_command not in ("upgrade", "current"):
        raise UsageError("perfwatch db: expected an action: upgrade or current")
    cfg = config(args)
    writes = args.db_command == "upgrade"
    if writes:
        reject_in_memory(cfg.resolved_db_url())
    eng = make_engine(cfg.resolved_db_url(), create=writes)  # `current` never creates a SQLite file
    check_connection(eng)
    if writes:
        before = current_revision(eng)
        if before is None and not args.into_existing:
            check_not_foreign(eng)
        after = upgrade(eng)
        print(f"{redact(cfg.resolved_db_url())}: schema {before or '(empty)'} -> {after}")
    elif args.db_command == "current":
        print(f"{current_revision(eng) or '(empty)'} (head: {head_revision()})")
    return EXIT_OK
