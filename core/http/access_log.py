"""The access log of ``dealercrm serve``, without the personal data of query strings.

uvicorn logs each request line as it came: ``GET /customers?q=Erika%20Musterfrau`` or
``?external_id=K-4711`` put names, e-mail addresses and DMS numbers into a log that an
erasure cannot reach (and that is often kept longer and read by more people than the
database). ``dealercrm serve`` therefore logs the path and the names of the query
parameters, never their values::

    INFO:     127.0.0.1:50312 - "GET /customers?q=*&limit=* HTTP/1.1" 200 OK

(``log_config()`` is uvicorn's own logging configuration with ``RedactQuery`` on the
``uvicorn.access`` logger.) A proxy in front keeps its own access log: configure it the
same way (SECURITY.md).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

#: a query parameter's name that is kept in the log; anything else is shown as ``*`` too
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,39}")


def redact(target: str) -> str:
    """``/customers?q=*&limit=*`` of ``/customers?q=erika%40example.org&limit=20``."""
    path, sep, query = target.partition("?")
    if not sep:
        return path
    parts = []
    for part in query.split("&"):
        name, has_value, _ = part.partition("=")
        parts.append(f"{name}=*" if has_value and _NAME.fullmatch(name) else "*")
    return f"{path}?{'&'.join(parts)}"


class RedactQuery(logging.Filter):
    """Takes the values out of the query string of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, its access log redacted."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["dealercrm_redact_query"] = {"()": f"{__name__}.RedactQuery"}
    config["loggers"]["uvicorn.access"].setdefault("filters", []).append("dealercrm_redact_query")
    return config
