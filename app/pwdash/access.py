"""What this dashboard may write: decided by `perfwatch dashboard` (perfwatch/cli/app_launcher.py)
and handed over in the environment.

- ``read-only``: no writes (beyond loopback without a token, or --read-only);
- ``confirm``: writes after a confirmation (loopback, no token: the local user);
- ``token``: writes after a confirmation and the write token (--write-token / $PERFWATCH_DASHBOARD_TOKEN).

Started any other way (a bare ``streamlit run``, which listens on every interface by default),
the app writes only with a token.
"""

from __future__ import annotations

import hmac
import os
import time

ACCESS_ENV = "PERFWATCH_DASHBOARD_ACCESS"
TOKEN_ENV = "PERFWATCH_DASHBOARD_TOKEN"
WRONG_TOKEN_DELAY = 1.0  # seconds a wrong token costs: guessing by hand stays slow


def _token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def mode() -> str:
    wanted = os.environ.get(ACCESS_ENV)
    if wanted == "token" or (wanted is None and _token()):
        return "token" if _token() else "read-only"
    return "confirm" if wanted == "confirm" else "read-only"


def token_ok(entered: str | None) -> bool:
    """Whether ``entered`` is the write token (compared in constant time); a miss sleeps."""
    expected = _token()
    ok = bool(expected and entered) and hmac.compare_digest(entered.encode(), expected.encode())
    if not ok:
        time.sleep(WRONG_TOKEN_DELAY)
    return ok
