"""The JdlError hierarchy: errors aimed at the reader, never carrying personal data.

The class also says what the stage runner (jdl_pipeline.stage) does with an error raised by a
handler:

- ``JdlError`` (any other subclass): refuse this submission - ``submission.failed`` with the
  error's code and message, which the submitter reads and purge acts on;
- ``TransientError``: retry with backoff (the same input may succeed in a moment), then refuse;
- ``StopWorker``: stop the worker without answering the submission - every submission would fail
  the same way (a configuration fault such as the wrong master key), so its input is left to be
  read again once the fault is fixed.
"""
from __future__ import annotations

from typing import Any


class JdlError(Exception):
    """Base of every error the service reports to a user.

    Messages name the argument, the offending value (never personal data) and what is allowed.
    """

    code: str = "jdl_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take extra constructor arguments, so the default (cls(*args)) cannot
        # rebuild them; restore args and attributes instead (errors cross process boundaries,
        # e.g. from the intake API's workbook parser).
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(cls: type[JdlError], args: tuple[Any, ...], state: dict[str, Any]) -> JdlError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class TransientError(JdlError):
    """The same input may succeed in a moment (a store or broker briefly unreachable, a partial
    delete): the stage runner retries it before refusing the submission."""

    code = "transient_error"


class StopWorker(JdlError):
    """A fault of the worker, not of the submission, that every submission would meet (wrong or
    missing master key): the stage runner stops the worker (``exit_code``, one log line saying
    why) and answers nothing, so the submission is processed once the fault is fixed. The
    message is logged: it names settings and fingerprints, never data."""

    code = "worker_stopped"
    exit_code = 3       # 2 is a refusal to start; the supervisor or Kubernetes restarts either


class InvalidArgument(JdlError):
    """An argument (CLI option, setting, spec field) has a value that is not allowed."""

    code = "invalid_argument"


class DataError(JdlError):
    """The national dataset is missing, unreadable or of an unexpected version."""

    code = "data_error"


class CohortError(JdlError):
    """A submitted cohort cannot be accepted (format, columns, too few valid rows...)."""

    code = "cohort_invalid"


class LinkageError(JdlError):
    """Linkage could not run (no model, incompatible dataset...)."""

    code = "linkage_failed"


class AnalysisError(JdlError):
    """The analysis cannot produce a sound result (too small, no overlap, constant covariates)."""

    code = "analysis_failed"


class TooFewAnalysed(AnalysisError):
    code = "too_few_analysed"


class NoOverlap(AnalysisError):
    code = "no_overlap"


class ConstantCovariates(AnalysisError):
    code = "constant_covariates"


class ReportError(JdlError):
    code = "report_failed"
