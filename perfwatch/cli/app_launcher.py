"""Starting the Streamlit dashboard: find the app, then run ``streamlit run`` on it.

The app lives in ``app/`` of the repository and ships inside the wheel as ``perfwatch/_app``
(hatch force-include), so this works from a clone (editable install) and after a plain
``pip install``. The database URL reaches the app through PERFWATCH_DB_URL, its write access
through PERFWATCH_DASHBOARD_ACCESS (``read-only``, ``confirm`` or ``token``) and, in ``token``
mode, the token through PERFWATCH_DASHBOARD_TOKEN (app/pwdash/access.py reads them).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

from perfwatch.domain.errors import ConfigError, UsageError

ENTRY = "main.py"
ACCESS_ENV = "PERFWATCH_DASHBOARD_ACCESS"
TOKEN_ENV = "PERFWATCH_DASHBOARD_TOKEN"
ACCESS_MODES = ("read-only", "confirm", "token")


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


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` serves this machine only. An empty host, 0.0.0.0 and :: are
    every interface; a name counts as loopback only if every address it resolves to is one.
    UsageError (exit 2) when the name does not resolve: Streamlit would fail later, less clearly."""
    host = host.strip().strip("[]")
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot listen on {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def access_mode(local: bool, token: str | None, read_only: bool) -> str:
    """What the dashboard may write: nothing, after a confirmation (loopback only), or with the token."""
    if read_only:
        return "read-only"
    if token:
        return "token"
    return "confirm" if local else "read-only"


def shown_url(host: str, port: int) -> str:
    name = host.strip().strip("[]") or "0.0.0.0"
    return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"


def streamlit_command(port: int, address: str | None = "127.0.0.1") -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_dir() / ENTRY), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           # A served dashboard does not edit its own source: no file watcher, no rerun on save.
           "--server.fileWatcherType", "none", "--server.runOnSave", "false",
           # Always named: Streamlit's own default is every interface.
           "--server.address", address if address is not None else "127.0.0.1"]
    return cmd


def app_env(db_url: str, access: str, token: str | None) -> dict[str, str]:
    if access not in ACCESS_MODES:
        raise ValueError(f"unknown dashboard access {access!r}")
    env = dict(os.environ, PERFWATCH_DB_URL=db_url, **{ACCESS_ENV: access})
    env.pop(TOKEN_ENV, None)  # only token mode hands a token on
    if access == "token":
        if not token:
            raise ValueError("token access without a token")
        env[TOKEN_ENV] = token
    return env


def launch(db_url: str, port: int, address: str | None = "127.0.0.1", access: str = "read-only",
           token: str | None = None) -> int:
    """Serve the dashboard in the foreground until stopped (on POSIX this process becomes
    Streamlit and never returns; elsewhere Streamlit's exit status is returned)."""
    check_streamlit()
    env = app_env(db_url, access, token)
    cmd = streamlit_command(port, address)
    if os.name == "posix":
        # Become Streamlit rather than start it as a child: a SIGTERM to `perfwatch dashboard`
        # (from a service manager or a test) then stops the server instead of orphaning it.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    return subprocess.call(cmd, env=env)
