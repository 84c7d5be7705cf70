"""moto's S3 API server on a free loopback port: the S3 store of the tests and benchmarks (moto is
a development dependency only, so it has no place in the installed packages)."""
from __future__ import annotations

from jdl_cli.tansu import free_port, wait_for_port


class MotoS3Server:
    """moto's S3 API server on a free loopback port (the `s3_server` fixture, bench_purge.py)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "MotoS3Server":
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)   # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "MotoS3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
