"""Logging set-up: one line per event name with ids and counts only (never personal data)."""
from __future__ import annotations

import json
import logging
import sys

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name,
               "event": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info and record.exc_info[0] is not None:
            # exception type only: messages and tracebacks can carry data values
            out["exc_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


NOISY = ("kafka", "aiokafka", "faust", "mode", "urllib3", "botocore", "werkzeug")


def logging_config(level: str = "INFO") -> dict:
    """The same set-up as a dictConfig, for faust workers (which reconfigure logging on start:
    without this their stage logs would be lost below faust's default WARN level)."""
    lvl = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    quiet = logging.getLevelName(max(logging.WARNING, lvl if isinstance(lvl, int) else logging.INFO))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {name: {"level": quiet} for name in NOISY},
    }


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
