"""Benchmark of cohort intake validation: parse + validate time and peak memory for CSV and XLSX.

    .venv/bin/python bench/bench_cohort_validation.py [--rows 100000] [--formats csv,xlsx]

Each cohort has 5% bad rows (bad dates, formula cells, duplicates) so every path is exercised.
"""
from __future__ import annotations

import argparse
import csv
import io
import resource
import time
from datetime import date

import openpyxl

from jdl_core.cohort import read_upload, validate_cohort
from jdl_core.identifiers import format_pnc

HEADER = ["Forename", "Surname", "Date of birth", "Sex", "Intervention start date", "Setting",
          "PNC ID", "Prison number", "Intervention end date"]
FORENAMES = ["Aldith", "Brannoc", "Cressida", "Dorran", "Elowen", "Fenwick", "Gwenllian", "Jory"]
SURNAMES = ["Trevithick", "Penhaligon", "Polglase", "Tregenza", "Chenoweth", "Pengelly"]


def letters(k: int) -> str:
    """k written in base 26 with letters, so that names stay names."""
    out = ""
    while True:
        k, r = divmod(k, 26)
        out = chr(97 + r) + out
        if k == 0:
            return out.capitalize()


def make_rows(n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        start = date(2003 + i % 7, 1 + i % 12, 1 + i % 28)
        row = [f"{FORENAMES[i % 8]}{chr(97 + i % 26)}", f"{SURNAMES[i % 6]}-{letters(i)}",
               date(1960 + i % 30, 1 + (i * 7) % 12, 1 + (i * 3) % 28).strftime("%d/%m/%Y"),
               "M" if i % 4 else "F", start.strftime("%d/%m/%Y"), "custody",
               format_pnc(1985 + i % 20, 100000 + i), f"{'ABCDEFGHJKLMNPQRTUVW'[i // 10000 % 20]}{i % 10000:04d}{'BCDEFG'[i % 6]}H",
               ""]
        if i % 20 == 7:
            row[2] = "31/02/1980"
        elif i % 20 == 13:
            row[0] = "=cmd|' /C calc'!A0"
        rows.append(row)
    for i in range(0, n, 20):      # 5% exact duplicates of earlier rows
        if i + 19 < n:
            rows[i + 19] = list(rows[i])
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode()


def to_xlsx(rows: list[list[str]]) -> bytes:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--formats", default="csv,xlsx")
    args = ap.parse_args()
    rows = make_rows(args.rows)
    print(f"rows={args.rows}  peak RSS after generating rows: {peak_rss_mb():.0f} MB")
    for fmt in args.formats.split(","):
        data = to_csv(rows) if fmt == "csv" else to_xlsx(rows)
        t0 = time.perf_counter()
        upload = read_upload(data, f"cohort.{fmt}")
        t1 = time.perf_counter()
        result = validate_cohort(upload, setting="custody")
        t2 = time.perf_counter()
        c = result.counts
        print(f"{fmt:5s} size={len(data) / 1e6:6.1f} MB  parse={t1 - t0:6.2f} s  "
              f"validate={t2 - t1:6.2f} s  total={t2 - t0:6.2f} s  "
              f"({args.rows / (t2 - t0):,.0f} rows/s)  accepted={c.accepted} rejected={c.rejected} "
              f"by_reason={c.by_reason}  peak RSS={peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
