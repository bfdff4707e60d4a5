"""The one exception tree of perfwatch.

Library code raises these; only ``perfwatch.cli.main`` catches them and turns them into exit codes,
so every failure a user can cause maps to one documented code (see docs/cli.md).
"""

from __future__ import annotations

# Exit codes (documented in docs/cli.md and the README).
EXIT_OK = 0
EXIT_REGRESSION = 1  # --fail-on-regression and a regression was found
EXIT_USAGE = 2  # bad usage or configuration: nothing run, nothing written
EXIT_CASES_FAILED = 3  # some cases failed; their status is stored
EXIT_ALERT = 4  # an alert could not be sent; it stays pending for the next `perfwatch notify`
EXIT_GATE_UNAVAILABLE = 5  # --fail-on-regression, but results were spooled: the gate could not judge
EXIT_RESULTS_LOST = 6  # results measured but kept nowhere (database and spool both refused them)
EXIT_INTERRUPTED = 130


class PerfwatchError(Exception):
    """Base of every error perfwatch raises on purpose."""

    exit_code = EXIT_USAGE


class UsageError(PerfwatchError):
    """The command line asked for something that does not exist or does not fit."""


class MissingExtra(UsageError):
    """An optional integration (an extra: postgres, dashboard, profiler, asv, uvm) is not installed."""


class ConfigError(PerfwatchError):
    """Configuration (flags, PERFWATCH_* variables, pyproject/perfwatch.toml) is invalid."""


class SuiteError(PerfwatchError):
    """A suite could not be found, imported or is malformed."""


class BackendUnavailable(PerfwatchError):
    """The requested device backend is not usable on this machine."""


class StoreError(PerfwatchError):
    """The results store failed (bad URL, unreachable, schema problem)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; results may be spooled locally."""


class InputError(PerfwatchError):
    """A file given to perfwatch (CSV, results directory) is malformed."""


class AlertError(PerfwatchError):
    """An alert could not be sent (no webhook, Slack refused or unreachable); it stays pending."""

    exit_code = EXIT_ALERT
