"""The embedded runtime behind `jdl up`: a local broker (or an external Kafka), a local object
store (or an external S3), the five services and the API as worker processes, on free ports;
and their supervisor: a worker that dies is restarted (with backoff), a dead local broker is
restarted on the same port with its topics (the workers are restarted with it; the reconciler
then re-drives whatever was in flight), and stop() ends every child's process group."""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from jdl_core.errors import StopWorker
from jdl_core.schema import DEFAULT_PEOPLE, DEFAULT_SEED
from jdl_events.vocab import STAGES

from .tansu import TansuBroker, die_with_parent, free_port

log = logging.getLogger("jdl.runtime")

SERVICES = STAGES   # one service per pipeline stage, started in this order


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    health_url: str
    log_path: Path
    service: str = ""            # services.<service>, or "api"
    index: int = 0
    env: dict[str, str] = field(default_factory=dict)   # its own settings, kept on restart
    started_at: float = field(default_factory=time.monotonic)


@dataclass
class Backoff:
    """Restart delays of one process: 1, 2, 4 ... 30 s; reset once it stayed up a minute."""
    failures: int = 0
    not_before: float = 0.0

    def next_delay(self) -> float:
        return min(30.0, 2.0 ** self.failures)


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
    # read (or created) by prepare() in var/secrets; never printed
    master_key: str = field(default="", repr=False)
    checkpoint_key: str = field(default="", repr=False)
    # the reconciler's interval in the purge service (production default: 5 min)
    reconcile_interval_seconds: float = 60.0
    backoff: dict[str, Backoff] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)      # labels restarted, in order (tests, logs)
    supervise_broker: bool = True                          # False: leave a dead broker dead (tests)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _supervisor: threading.Thread | None = None

    # -- preparation -----------------------------------------------------------------------
    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)
        log.info(msg)

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
        # the purge service's audit-checkpoint signing key, kept so checkpoints verify across restarts
        self.checkpoint_key = self._secret_file(secrets_dir / "checkpoint.key", _new_checkpoint_key)
        tokens_path = secrets_dir / "tokens.json"
        if not tokens_path.exists():
            tokens_path.write_text(json.dumps({"demo-org": secrets.token_urlsafe(24),
                                               "other-org": secrets.token_urlsafe(24),
                                               "ops": secrets.token_urlsafe(24)}))
            os.chmod(tokens_path, 0o600)
        self.tokens = json.loads(tokens_path.read_text())

    def _secret_file(self, path: Path, make: Callable[[], str]) -> str:
        if not path.exists():
            path.write_text(make())
            os.chmod(path, 0o600)
        return path.read_text().strip()

    def _ensure_dataset(self) -> None:
        from jdl_core.schema import DATASET_VERSION, MANIFEST_FILE

        assert self.data_dir is not None
        manifest = self.data_dir / MANIFEST_FILE
        # a dataset the runtime generated itself (under VAR/data) in an older format is
        # regenerated; one given with --data elsewhere is the user's and is only read
        own = self.data_dir.parent == (self.var_dir / "data").resolve()
        stale = own and manifest.exists() and \
            json.loads(manifest.read_text()).get("dataset_version") != DATASET_VERSION
        if not manifest.exists() or stale:
            from jdl_core.synth.generator import generate_national

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.say(f"generating the national dataset ({self.people:,} people, seed {self.seed}) "
                     f"in {self.data_dir} ...")
            t = time.perf_counter()
            generate_national(people=self.people, seed=self.seed, out_dir=self.data_dir,
                              overwrite=stale)
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
            "JDL_PURGE_RECONCILE_INTERVAL_SECONDS": str(self.reconcile_interval_seconds),
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
        self._stopping.clear()     # a runtime stopped and started again supervises again
        self.prepare()
        if not self.kafka:
            self.broker = TansuBroker(log_path=self.var_dir / "logs" / "broker.log",
                                      die_with_parent=True).start()
            self.say(f"broker (tansu) on {self.broker.bootstrap}")
        self._ensure_topics()
        for name in SERVICES:
            copies = self.linkage_workers if name == "linkage" else 1
            for i in range(copies):
                self.start_worker(name, i)
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self._spawn("api", [sys.executable, "-m", "services.intake", "api"],
                    {"JDL_INTAKE_API_PORT": str(api_port)}, f"{self.api_url}/healthz")
        self.wait_healthy()
        self.write_state()
        self.say(f"API on {self.api_url} (OpenAPI at {self.api_url}/docs)")
        return self

    def _ensure_topics(self) -> None:
        from jdl_infra.kafka_io import client_security, ensure_topics
        from jdl_infra.settings import InfraSettings

        # an external broker may need TLS/SASL (JDL_KAFKA_SECURITY_PROTOCOL etc., which the
        # workers read from the same environment)
        ensure_topics(self.bootstrap, security=client_security(InfraSettings()) if self.kafka else None)

    def write_state(self) -> None:
        """var/runtime.json: where the API is and every process id (operations, tests)."""
        with self._lock:
            pids = {p.name: p.popen.pid for p in self.procs}
            if self.broker and self.broker.proc:
                pids["broker"] = self.broker.proc.pid
        (self.var_dir / "runtime.json").write_text(json.dumps(
            {"api_url": self.api_url, "pid": os.getpid(), "kafka": self.bootstrap, "pids": pids}))

    def start_worker(self, name: str, index: int = 0, env: dict[str, str] | None = None) -> Proc:
        port = free_port()
        label = name if index == 0 else f"{name}-{index}"
        extra = {f"JDL_{name.upper()}_WEB_PORT": str(port), **(env or {})}
        if name == "purge":     # only the purge service holds the checkpoint signing key
            extra["JDL_PURGE_CHECKPOINT_SIGNING_KEY"] = self.checkpoint_key
        proc = self._spawn(label, [sys.executable, "-m", f"services.{name}", "worker"], extra,
                           f"http://127.0.0.1:{port}/healthz", service=name, index=index)
        proc.env = dict(env or {})
        return proc

    def _spawn(self, label: str, cmd: list[str], env: dict[str, str], health: str, *,
               service: str = "api", index: int = 0) -> Proc:
        with self._lock:
            for old in self.procs:
                if old.name == label and old.popen.poll() is None:
                    self._terminate(old)   # never two copies of one label (one would be untracked)
        log_path = self.var_dir / "logs" / f"{label}.log"
        out = open(log_path, "ab")
        full = {**self.env(), **env}
        if label != "api" and not label.startswith(KEY_HOLDERS):
            # least privilege, as in deploy/: only the intake API, linkage and matching decrypt
            full.pop("JDL_MASTER_KEY", None)
        popen = subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=self.var_dir.parent,
                                 start_new_session=True, preexec_fn=die_with_parent)
        out.close()
        proc = Proc(label, popen, health, log_path, service=service, index=index)
        with self._lock:
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

    # -- supervision -----------------------------------------------------------------------
    def supervise_once(self) -> None:
        """One look at every child: restart a dead broker (and the workers with it), restart a
        dead worker once its backoff allows. Called every half second by supervise()."""
        if self._stopping.is_set():
            return
        if self.broker is not None and self.supervise_broker and not self.broker.alive():
            self.restart_broker()
        now = time.monotonic()
        with self._lock:
            procs = list(self.procs)
        for p in procs:
            b = self.backoff.setdefault(p.name, Backoff())
            code = p.popen.poll()
            if code is None:
                if b.failures and now - p.started_at > 60:
                    b.failures = 0    # it stayed up: the next crash restarts at once again
                continue
            if b.not_before == 0.0:
                delay = b.next_delay()
                b.not_before = now + delay
                why = ("; it stopped itself for a fault of its own, not of a submission (the CRITICAL "
                       "line in its log says which)" if code == StopWorker.exit_code else "")
                self.say(f"{p.name} exited with code {code}; restarting in {delay:.0f} s "
                         f"(log {p.log_path}){why}")
            if now >= b.not_before and not self._stopping.is_set():
                b.failures += 1
                b.not_before = 0.0
                self._restart(p)

    def _restart(self, p: Proc) -> Proc:
        if p.service == "api":
            port = p.health_url.rsplit(":", 1)[1].split("/")[0]   # same URL for its clients
            new = self._spawn("api", [sys.executable, "-m", "services.intake", "api"],
                              {"JDL_INTAKE_API_PORT": port}, p.health_url)
        else:
            new = self.start_worker(p.service, p.index, p.env)
        self.restarts.append(p.name)
        self.say(f"{p.name} restarted (pid {new.popen.pid})")
        self.write_state()
        return new

    def restart_broker(self) -> None:
        """The local broker died (its log with it): start an empty one on the same port, create
        the topics, restart the workers so they join it afresh. Work in flight is found again
        by the purge service's reconciler from the store."""
        assert self.broker is not None
        port = self.broker.port
        self.say(f"broker (tansu) on port {port} died; starting a new one")
        self.broker.stop()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.broker = TansuBroker(port=port, log_path=self.var_dir / "logs" / "broker.log",
                                          die_with_parent=True).start()
                break
            except (TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self._ensure_topics()
        with self._lock:
            workers = [p for p in self.procs if p.service != "api"]
        for p in workers:
            self._terminate(p)
            self._restart(p)
        self.restarts.append("broker")
        self.say(f"broker restarted on {self.broker.bootstrap}; workers restarted; the reconciler "
                 "re-drives submissions that were in flight")

    def supervise(self) -> None:
        """Block, supervising, until stop() (or a signal handled by the caller)."""
        while not self._stopping.wait(0.5):
            try:
                self.supervise_once()
            except Exception as exc:  # noqa: BLE001 - keep supervising; say what happened
                self.say(f"supervisor: {type(exc).__name__}: {exc}")

    def start_supervisor(self) -> None:
        """Supervise from a background thread (tests; `jdl up` supervises in its main thread)."""
        self._supervisor = threading.Thread(target=self.supervise, name="jdl-supervisor", daemon=True)
        self._supervisor.start()

    @staticmethod
    def _terminate(p: Proc, timeout: float = 10.0) -> None:
        try:
            os.killpg(p.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.popen.wait()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(30)
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
                pass
            try:   # the whole group: anything a worker started goes too
                os.killpg(p.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
    from jdl_infra.crypto import generate_master_key

    return generate_master_key()


def _new_checkpoint_key() -> str:
    from jdl_infra.checkpoint import generate_signing_key

    return generate_signing_key()
