"""The embedded runtime behind `jdl up`: a local broker (or an external Kafka), a local object
store (or an external S3), the five services and the API as worker processes, on free ports."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .local import TansuBroker, free_port, wait_for_port

SERVICES = ("intake", "linkage", "matching", "reporting", "purge")
DEFAULT_PEOPLE = 100_000
DEFAULT_SEED = 20260101


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    health_url: str
    log_path: Path


# Workers that encrypt or decrypt cohort data (besides the API): the only ones given the master key.
KEY_HOLDERS = ("linkage", "matching")


@dataclass
class EmbeddedRuntime:
    var_dir: Path = Path("var")
    kafka: str | None = None            # external bootstrap; None starts tansu
    store_url: str | None = None        # external store (s3://bucket); None uses var/store
    s3_endpoint: str | None = None
    people: int = DEFAULT_PEOPLE
    seed: int = DEFAULT_SEED
    linkage_workers: int = 1
    data_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    prepare_data: bool = True           # False: workers start without a dataset (plumbing tests)
    broker: TansuBroker | None = None
    procs: list[Proc] = field(default_factory=list)
    api_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)   # org_id -> token

    # -- preparation -----------------------------------------------------------------------
    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def prepare(self) -> None:
        self.var_dir = self.var_dir.resolve()
        (self.var_dir / "logs").mkdir(parents=True, exist_ok=True)
        secrets_dir = self.var_dir / "secrets"
        secrets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(secrets_dir, 0o700)
        self.data_dir = (self.data_dir or self.var_dir / "data" / "national").resolve()
        if self.prepare_data:
            self._ensure_dataset()
        self.master_key = self._secret_file(secrets_dir / "master.key", _new_master_key)
        tokens_path = secrets_dir / "tokens.json"
        if not tokens_path.exists():
            tokens_path.write_text(json.dumps({"demo-org": secrets.token_urlsafe(24),
                                               "other-org": secrets.token_urlsafe(24),
                                               "ops": secrets.token_urlsafe(24)}))
            os.chmod(tokens_path, 0o600)
        self.tokens = json.loads(tokens_path.read_text())

    def _secret_file(self, path: Path, make) -> str:  # type: ignore[no-untyped-def]
        if not path.exists():
            path.write_text(make())
            os.chmod(path, 0o600)
        return path.read_text().strip()

    def _ensure_dataset(self) -> None:
        from jdl_core.schema import MANIFEST_FILE

        assert self.data_dir is not None
        if not (self.data_dir / MANIFEST_FILE).exists():
            from jdl_core.synth.generator import generate_national

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.say(f"generating the national dataset ({self.people:,} people, seed {self.seed}) "
                     f"in {self.data_dir} ...")
            t = time.perf_counter()
            generate_national(people=self.people, seed=self.seed, out_dir=self.data_dir)
            self.say(f"  done in {time.perf_counter() - t:.1f} s")
        from jdl_core.linkage import load_linkage_model
        from jdl_core.national import load_national

        t = time.perf_counter()
        load_linkage_model(load_national(self.data_dir))   # trains and saves once, if absent
        if time.perf_counter() - t > 2:
            self.say(f"  linkage model ready in {time.perf_counter() - t:.1f} s")

    # -- processes -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        assert self.data_dir is not None
        env = dict(os.environ)
        env.update({
            "JDL_ENVIRONMENT": "development",
            "JDL_KAFKA_BOOTSTRAP": self.bootstrap,
            "JDL_STORE_URL": self.store_url or f"file://{self.var_dir / 'store'}",
            "JDL_DATA_DIR": str(self.data_dir),
            "JDL_MASTER_KEY": self.master_key,
            "JDL_INTAKE_TOKENS": json.dumps({v: k for k, v in self.tokens.items()}),
            "PYTHONUNBUFFERED": "1",
        })
        if self.s3_endpoint:
            env["JDL_S3_ENDPOINT"] = self.s3_endpoint
        env.update(self.extra_env)
        return env

    @property
    def bootstrap(self) -> str:
        if self.kafka:
            return self.kafka
        assert self.broker is not None
        return self.broker.bootstrap

    def start(self) -> "EmbeddedRuntime":
        self.prepare()
        if not self.kafka:
            self.broker = TansuBroker(log_path=self.var_dir / "logs" / "broker.log").start()
            self.say(f"broker (tansu) on {self.broker.bootstrap}")
        from .kafka_io import client_security, ensure_topics
        from .settings import InfraSettings

        # an external broker may need TLS/SASL (JDL_KAFKA_SECURITY_PROTOCOL etc., which the
        # workers read from the same environment)
        ensure_topics(self.bootstrap, security=client_security(InfraSettings()) if self.kafka else None)
        for name in SERVICES:
            copies = self.linkage_workers if name == "linkage" else 1
            for i in range(copies):
                self.start_worker(name, i)
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self._spawn("api", [sys.executable, "-m", "services.intake", "api"],
                    {"JDL_INTAKE_API_PORT": str(api_port)}, f"{self.api_url}/healthz")
        self.wait_healthy()
        (self.var_dir / "runtime.json").write_text(json.dumps(
            {"api_url": self.api_url, "pid": os.getpid(), "kafka": self.bootstrap}))
        self.say(f"API on {self.api_url} (OpenAPI at {self.api_url}/docs)")
        return self

    def start_worker(self, name: str, index: int = 0) -> Proc:
        port = free_port()
        label = name if index == 0 else f"{name}-{index}"
        return self._spawn(label, [sys.executable, "-m", f"services.{name}", "worker"],
                           {f"JDL_{name.upper()}_WEB_PORT": str(port)},
                           f"http://127.0.0.1:{port}/healthz")

    def _spawn(self, label: str, cmd: list[str], env: dict[str, str], health: str) -> Proc:
        log_path = self.var_dir / "logs" / f"{label}.log"
        out = open(log_path, "ab")
        full = {**self.env(), **env}
        if label != "api" and not label.startswith(KEY_HOLDERS):
            # least privilege, as in deploy/: only the intake API, linkage and matching decrypt
            full.pop("JDL_MASTER_KEY", None)
        popen = subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=self.var_dir.parent,
                                 start_new_session=True)
        proc = Proc(label, popen, health, log_path)
        self.procs = [p for p in self.procs if p.name != label] + [proc]
        return proc

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Until every process answers its health page and every worker consumes (holds at
        least one partition), so that a submission made next is picked up at once."""
        deadline = time.monotonic() + timeout
        pending = list(self.procs)
        while pending:
            for p in list(pending):
                if p.popen.poll() is not None:
                    tail = p.log_path.read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"{p.name} exited with code {p.popen.returncode}; "
                                       f"log {p.log_path}:\n{tail}")
                try:
                    r = httpx.get(p.health_url, timeout=1.0)
                    # a worker consumes once it holds partitions, even if its health reports a
                    # failed warm-up (workers started without a dataset, prepare_data=False)
                    if (r.status_code == 200 if p.name == "api" else bool(r.json().get("assigned"))):
                        pending.remove(p)
                except (httpx.HTTPError, ValueError):
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not healthy (or not consuming) after {timeout:.0f} s: "
                                   f"{[p.name for p in pending]}")
            time.sleep(0.2)

    def kill(self, label: str) -> None:
        """Kill one worker abruptly (SIGKILL), as a crash would (used by tests)."""
        p = next(p for p in self.procs if p.name == label)
        os.killpg(p.popen.pid, signal.SIGKILL)
        p.popen.wait()

    def stop(self) -> None:
        for p in self.procs:
            if p.popen.poll() is None:
                try:
                    os.killpg(p.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.popen.pid, signal.SIGKILL)
                p.popen.wait()
        self.procs = []
        if self.broker:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> "EmbeddedRuntime":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _new_master_key() -> str:
    from .crypto import generate_master_key

    return generate_master_key()


__all__ = ["EmbeddedRuntime", "SERVICES", "wait_for_port"]
