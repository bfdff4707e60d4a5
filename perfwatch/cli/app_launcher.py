"""Starting the Streamlit dashboard: find the app, then run ``streamlit run`` on it.

The app lives in ``app/`` of the repository and ships inside the wheel as ``perfwatch/_app``
(hatch force-include), so this works from a clone (editable install) and after a plain
``pip install``. The database URL reaches the app through PERFWATCH_DB_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from perfwatch.domain.errors import ConfigError

ENTRY = "main.py"


def app_dir() -> Path:
    """perfwatch/_app when installed from a wheel, <repo>/app in a clone."""
    pkg = Path(__file__).resolve().parents[1]  # perfwatch/ (this module is perfwatch/cli/app_launcher.py)
    for candidate in (pkg / "_app", pkg.parent / "app"):
        if (candidate / ENTRY).is_file():
            return candidate
    raise ConfigError("the dashboard app is missing from this installation (neither perfwatch/_app nor app/ has "
                      f"{ENTRY}); reinstall perfwatch")


def check_streamlit() -> None:
    from perfwatch.domain.optional import require_extra

    require_extra("dashboard", "the dashboard")


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_dir() / ENTRY), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           # A served dashboard does not edit its own source: no file watcher, no rerun on save.
           "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    if address:
        cmd += ["--server.address", address]
    return cmd


def launch(db_url: str, port: int, address: str | None = None) -> int:
    """Serve the dashboard in the foreground until stopped (on POSIX this process becomes
    Streamlit and never returns; elsewhere Streamlit's exit status is returned)."""
    check_streamlit()
    env = dict(os.environ, PERFWATCH_DB_URL=db_url)
    cmd = streamlit_command(port, address)
    if os.name == "posix":
        # Become Streamlit rather than start it as a child: a SIGTERM to `perfwatch dashboard`
        # (from a service manager or a test) then stops the server instead of orphaning it.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    return subprocess.call(cmd, env=env)
