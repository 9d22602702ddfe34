"""``GETT_LOG=info|debug``: turn on the SDK's logs from the environment (as ``OPENAI_LOG`` does).

The library adds only a `logging.NullHandler` to the ``gett_async`` logger, so it prints
nothing unless the application configures logging. With ``GETT_LOG`` set to ``info`` or
``debug`` (any case) when ``gett_async`` is first imported, it also gets one handler on
stderr at that level; any other value is ignored. What is logged never holds the API key,
a request header or a body (see `gett_async._http.sender`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

LOGGER = "gett_async"
#: The values of GETT_LOG that turn logging on, and the level each sets.
LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler ``GETT_LOG`` adds (its own class, so it is added once)."""


def setup(environ: Mapping[str, str] | None = None) -> logging.Handler | None:
    """Give the ``gett_async`` logger its NullHandler and, when ``GETT_LOG`` asks, a stderr
    handler at that level; returns that handler (None when not asked). Idempotent."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    level = LEVELS.get(((environ if environ is not None else os.environ).get("GETT_LOG") or "").strip().lower())
    if level is None:
        return None
    handler = next((h for h in logger.handlers if isinstance(h, EnvHandler)), None)
    if handler is None:
        handler = EnvHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    handler.setLevel(level)
    logger.setLevel(level)
    return handler
