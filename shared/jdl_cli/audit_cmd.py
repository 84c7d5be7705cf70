"""`jdl audit ...` commands: verify the hash-chained deletion audit log, show one certificate."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import typer

from jdl_core.errors import InvalidArgument
from jdl_events import keys
from jdl_infra.audit import AuditEntry, AuditLog
from jdl_infra.certificate import DeletionCertificate
from jdl_infra.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_checkpoints,
    parse_checkpoints,
    published_checkpoints,
)
from jdl_infra.crypto import check_submission_id
from jdl_infra.objectstore import ObjectStore, open_store
from jdl_infra.settings import InfraSettings

from ._common import clear_errors, fail
from .compliance import check_certificates, submissions_requiring_certificate

app = typer.Typer(no_args_is_help=True)

STORE_URL_HELP = ("Object store to audit: file:///path or s3://bucket (endpoint and credentials "
                  "from JDL_S3_*). Default: JDL_STORE_URL.")


def _open(store_url: str | None) -> ObjectStore:
    infra = InfraSettings(store_url=store_url) if store_url else InfraSettings()
    url = urlparse(infra.store_url)
    if url.scheme == "file":
        path = Path((url.netloc + url.path) if url.netloc else url.path)
        # opening a filesystem store creates its root: refuse a typo instead of auditing nothing
        if not path.is_dir():
            raise InvalidArgument(f"--store-url {infra.store_url}: no such directory")
    elif url.scheme == "memory":
        raise InvalidArgument("--store-url memory://: an in-memory store has nothing to audit "
                              "(use file:///path or s3://bucket)")
    return open_store(infra)


def _load_checkpoints(source: str) -> list[Checkpoint]:
    """Checkpoints from a file or an http(s) URL (one, a list, or {"checkpoints": [...]})."""
    if urlparse(source).scheme in ("http", "https"):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=15) as resp:  # http(s) only, checked above
                raw = resp.read(10_000_000)
        except (urllib.error.URLError, OSError) as e:
            raise InvalidArgument(f"--checkpoint {source}: could not fetch it ({e})") from None
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as e:
            raise InvalidArgument(f"--checkpoint {source}: cannot read the file "
                                  f"({e.strerror})") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"--checkpoint {source}: not JSON") from None
    try:
        return parse_checkpoints(doc, f"--checkpoint {source}")
    except CheckpointError as e:
        raise InvalidArgument(str(e)) from None


def _parse_anchor(anchor: str) -> tuple[int, str]:
    seq, _, digest = anchor.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidArgument(f"--anchor {anchor!r}: expected SEQ:HASH (the head seq and its "
                              "64-hex-digit hash printed by an earlier `jdl audit verify`)")
    return int(seq), digest


@app.command("verify")
@clear_errors
def verify(
    store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_URL_HELP),
    retention_days: float = typer.Option(
        InfraSettings.model_fields["retention_days"].default, "--retention-days",
        envvar="JDL_RETENTION_DAYS", min=0,
        help="Submissions older than this must have been purged."),
    anchor: Optional[str] = typer.Option(
        None, "--anchor", help="SEQ:HASH noted from an earlier run: that entry must still be "
        "there unchanged (catches truncation or a rewritten chain)."),
    chain_only: bool = typer.Option(
        False, "--chain-only", help="Check the chain only, not that every finished or expired "
        "submission has a certificate."),
    checkpoint: Optional[list[str]] = typer.Option(
        None, "--checkpoint", help="FILE or URL of a published signed checkpoint (or a list of "
        "them, e.g. <api>/v1/audit/checkpoints); repeatable. The log must still extend every "
        "one: truncation or a rewritten tail fails."),
    public_key: Optional[str] = typer.Option(
        None, "--public-key", help="Trusted checkpoint signing key (base64, or its 16-hex key "
        "id): checkpoints signed by any other key fail."),
    published: bool = typer.Option(
        True, "--published/--no-published", help="Also check the checkpoints published in the "
        "store itself (public/audit/checkpoints/); copies kept elsewhere (--checkpoint) are the "
        "stronger proof, since whoever rewrites the log can delete these too."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check every hash and link of the audit log, and that every finished or expired submission
    has a deletion certificate and no data left. Exits 1 naming the first bad entry."""
    checkpoints = [cp for source in checkpoint or [] for cp in _load_checkpoints(source)]
    store = _open(store_url)
    if published:
        stored = published_checkpoints(store)
        if stored:
            try:
                checkpoints += parse_checkpoints(stored, f"{keys.CHECKPOINTS} in the store")
            except CheckpointError as e:
                raise fail(f"{e} (a tampered checkpoint; rerun with --no-published to check "
                           "the log alone)", code=1) from None
    log = AuditLog(store)
    report = log.verify(anchor=_parse_anchor(anchor) if anchor else None)
    if checkpoints:
        report.problems.extend(check_checkpoints(checkpoints, report.hashes,
                                                 trusted_public_key=public_key))
    required: dict[str, str] = {}
    if not chain_only:
        required = submissions_requiring_certificate(store, retention_days=retention_days)
        report.problems.extend(check_certificates(store, log, required))
    if as_json:
        typer.echo(json.dumps({
            "ok": report.ok, "entries": report.entries, "head_seq": report.head_seq,
            "head_hash": report.head_hash, "first_bad_seq": report.first_bad_seq,
            "submissions_checked": len(required), "checkpoints_checked": len(checkpoints),
            "problems": [{"kind": p.kind, "seq": p.seq, "submission_id": p.submission_id,
                          "detail": p.detail} for p in report.problems]}, indent=2))
    else:
        for p in report.problems:
            typer.echo(f"FAIL {p}")
        typer.echo(report.summary())
        if not chain_only:
            typer.echo(f"{len(required)} finished or expired submission(s) checked for a "
                       "certificate")
        if checkpoints:
            typer.echo(f"{len(checkpoints)} signed checkpoint(s) checked (up to seq "
                       f"{max(cp.seq for cp in checkpoints)})")
        if report.ok:
            typer.echo(f"note this anchor to detect truncation later: --anchor "
                       f"{report.head_seq}:{report.head_hash}")
    if not report.ok:
        raise typer.Exit(1)


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(timezone.utc).isoformat(timespec="seconds")


def format_certificate(cert: DeletionCertificate, entry: AuditEntry | None,
                       others: list[AuditEntry]) -> str:
    """A certificate as text a person can read and check."""
    v = cert.verification
    lines = [
        f"Deletion certificate for submission {cert.submission_id}",
        f"  outcome           {cert.outcome}",
        f"  trigger           {cert.trigger}",
        f"  requested at      {_t(cert.requested_at)}",
        f"  due at            {_t(cert.due_at)}",
        f"  purged at         {_t(cert.purged_at)}"
        + ("" if cert.lag_seconds is None else f"  (lag {cert.lag_seconds:.1f} s after due)"),
        f"  attempts          {cert.attempts}" + ("  (resumed after an interruption)"
                                                  if cert.attempts > 1 else ""),
        f"  objects deleted   {cert.n_objects} object(s), {cert.n_versions} version(s) "
        "including delete markers",
    ]
    by_key: dict[str, list[str]] = {}
    for ver in cert.versions_deleted:
        by_key.setdefault(ver.key, []).append(ver.version_id)
    for key in cert.objects_deleted:
        ids = by_key.get(key, [])
        lines.append(f"    {key}  [{len(ids)} version(s): {', '.join(ids)}]")
    lines += [
        f"  data key          {cert.key_id_destroyed + ' destroyed' if cert.key_id_destroyed else 'none destroyed by this request'}",
        f"  verification      {'PASSED' if v.passed else 'FAILED'} at {_t(v.checked_at)}: "
        f"{v.remaining_objects} object(s) and {v.remaining_versions} version(s) remain under "
        f"{v.prefix}; key {v.key_object}: {v.key_versions_remaining} version(s), "
        f"{'absent' if v.key_absent else 'PRESENT'}",
    ]
    if cert.previous_certificate_seq is not None:
        lines.append(f"  earlier record    audit entry seq {cert.previous_certificate_seq}")
    if entry is not None:
        lines.append(f"  audit entry       seq {entry.seq} ({entry.key}), hash {entry.hash}")
    if others:
        lines.append("  other purge requests for this submission:")
        for e in others:
            c = e.certificate()
            lines.append(f"    seq {e.seq}  {e.entry_type}  "
                         f"{c.outcome if c else '?'}  {e.created_at}")
    return "\n".join(lines)


@app.command("show")
@clear_errors
def show(
    submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
    store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the certificate as JSON."),
) -> None:
    """Print the deletion certificate of one submission (exit 1 if it has none)."""
    sid = check_submission_id(submission_id)
    log = AuditLog(_open(store_url))
    cert = log.certificate(sid)
    if cert is None:
        raise fail(f"submission {sid} has no deletion certificate in the audit log", code=1)
    entry = log.entry_of(cert)
    if as_json:
        doc = cert.model_dump(mode="json")
        if entry is not None:
            doc["audit_entry"] = {"seq": entry.seq, "key": entry.key, "hash": entry.hash}
        typer.echo(json.dumps(doc, indent=2))
        return
    others = [e for e in log.certificate_entries(sid) if entry is None or e.seq != entry.seq]
    typer.echo(format_certificate(cert, entry, others))
