"""The results store: the only package that knows SQL.

``engine`` turns a URL into a configured SQLAlchemy engine, ``migrate`` applies the Alembic
migrations in ``db/migrations/``, ``writes`` stores runs and cases, ``queries`` reads them back
as plain dicts (and data frames for the dashboard), ``spool`` keeps results that could not be
written and pushes them later.
"""
