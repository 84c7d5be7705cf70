"""Logging set-up: one line per event name with ids and counts only (never personal data)."""
from __future__ import annotations

import json
import logging

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
    """The logging of every process as a dictConfig: JSON lines on stderr, the noisy libraries at
    WARNING. Faust workers are given it (they reconfigure logging on start: without it their stage
    logs would be lost below faust's default WARN level); setup_logging installs it elsewhere."""
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
    """Install the set-up of logging_config in this process now (before faust starts, and in the
    API, which runs no faust worker)."""
    import logging.config

    logging.config.dictConfig(logging_config(level))
