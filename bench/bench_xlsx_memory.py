"""Memory of the intake API process around four concurrent near-cap XLSX uploads.

    .venv/bin/python bench/bench_xlsx_memory.py [--rows 5000] [--uploads 4] [--in-process]

Starts the API (uvicorn, filesystem store, events discarded) in its own process, uploads
``--uploads`` copies of a workbook that unzips near the expansion cap (bench/xlsx_heavy.py) at
once, and prints the API's RSS before, at its peak (sampled every 50 ms) and after, with the
largest RSS of any parse child. ``--in-process`` parses in the API process as before the bounded
parser (for comparison).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xlsx_heavy import heavy_workbook

TOKEN = "bench-token"
PROGRAMME = {"organisation": "Bench Trust", "name": "Mentoring", "targets": "Adults leaving prison",
             "delivers": "Weekly mentoring", "selection": "Referred by staff", "setting": "custody",
             "contact_email": "eval@example.org"}


def serve(port: int, store_dir: str, in_process: bool) -> None:
    """The API process: real create_api, a filesystem store, events dropped."""
    import uvicorn
    from pydantic import SecretStr

    from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
    from jdl_infra.objectstore import FilesystemStore
    from services.intake.api import create_api
    from services.intake.handlers import IntakePorts
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings(tokens=SecretStr(json.dumps({TOKEN: "bench-org"})),
                              rate_limit_uploads_per_minute=0, min_cohort_size=1)
    store = FilesystemStore(store_dir)
    app = create_api(settings, IntakePorts(
        store, KeyRing(store, MasterKey.from_base64(generate_master_key())), lambda _e: None))
    if in_process:
        from services.intake.handlers import parse_in_process

        app.state.parser.parse_blocking = parse_in_process   # the API parses in its own process
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def upload(url: str, data: bytes, out: list) -> None:
    boundary = "benchboundary7d3f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"programme\"\r\n\r\n"
            f"{json.dumps(PROGRAMME)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"file\"; filename=\"c.xlsx\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            out.append((resp.status, time.perf_counter() - t))
    except urllib.error.HTTPError as e:
        out.append((e.code, time.perf_counter() - t))


def main() -> None:
    import subprocess

    import psutil

    from jdl_cli.tansu import free_port, wait_for_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000)
    ap.add_argument("--uploads", type=int, default=4)
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "STORE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.in_process)
        return

    data = heavy_workbook(rows=args.rows)
    print(f"workbook: {len(data) / 1e6:.2f} MB, {args.rows:,} rows; "
          f"mode: {'in the API process (old)' if args.in_process else 'bounded child processes'}")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--serve", str(port), tmp] + (
            ["--in-process"] if args.in_process else [])
        server = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], env=os.environ)
        try:
            wait_for_port(port, timeout=60)
            api = psutil.Process(server.pid)
            time.sleep(1.0)
            before = api.memory_info().rss
            peak_api, peak_child, stop = [before], [0], threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    try:
                        peak_api[0] = max(peak_api[0], api.memory_info().rss)
                        for c in api.children(recursive=True):
                            try:
                                peak_child[0] = max(peak_child[0], c.memory_info().rss)
                            except psutil.Error:
                                pass
                    except psutil.Error:
                        pass
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            results: list = []
            t = time.perf_counter()
            threads = [threading.Thread(target=upload, args=(
                f"http://127.0.0.1:{port}/v1/submissions", data, results)) for _ in range(args.uploads)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t
            time.sleep(2.0)           # let anything that will be freed be freed
            stop.set()
            sampler.join()
            after = api.memory_info().rss
            mb = 2 ** 20
            print(f"uploads: {args.uploads} at once, statuses {sorted(s for s, _ in results)}, "
                  f"wall {wall:.1f} s, slowest {max(d for _, d in results):.1f} s")
            print(f"API RSS before {before / mb:.0f} MB, peak {peak_api[0] / mb:.0f} MB, "
                  f"after {after / mb:.0f} MB (retained {(after - before) / mb:+.0f} MB)")
            if not args.in_process:
                print(f"largest parse child RSS {peak_child[0] / mb:.0f} MB")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
