"""Validation of deploy/: Kubernetes manifests (schemas, kustomize structure, probes, env names
against the settings classes, KEDA), the compose file (compose-spec schema, structure, env), the
Dockerfile, the Kafka topic configuration, Prometheus rules (promtool) and the Grafana dashboard.

None of this can run here (no Docker engine, no cluster), so the tests check what would break
it: unknown fields, references to things that do not exist, env variables no settings class
reads, probes on ports the service does not listen on, metrics nobody exports.
"""
from __future__ import annotations

import base64
import copy
import fnmatch
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from jdl_events import topics as topic_defs
from jdl_infra import metrics
from jdl_infra.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, InfraSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
PROM = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
K8S_VERSION = "1.31"

sys.path.insert(0, str(DEPLOY / "kafka"))
import apply_topics  # noqa: E402
import render_topics  # noqa: E402  (deploy/kafka is scripts, not a package)

PREPARE_DATA_IN_IMAGE = "/opt/jdl/bin/prepare-national-data.sh"   # COPY'd by the Dockerfile

SERVICE_DIRS = sorted(p.name for p in (ROOT / "services").iterdir()
                      if (p / "__init__.py").exists() and (p / "settings.py").exists())


# --- what should be deployed: one workload per service directory, plus the API ---------------
@dataclass(frozen=True)
class Workload:
    name: str               # Deployment / compose service name
    service: str            # directory under services/
    command: tuple[str, ...]
    port_field: str         # settings field of the port serving /healthz and /metrics


def expected_workloads() -> dict[str, Workload]:
    out = {s: Workload(s, s, ("python", "-m", f"services.{s}", "worker"), "web_port")
           for s in SERVICE_DIRS}
    out["intake-api"] = Workload("intake-api", "intake", ("python", "-m", "services.intake", "api"),
                                 "api_port")
    return out


WORKLOADS = expected_workloads()


def settings_class(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    found = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, BaseSettings)
             and c.__module__ == module.__name__]
    assert len(found) == 1, f"services/{service}/settings.py should define one settings class"
    return found[0]


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every variable the class reads: its own prefix + field, and InfraSettings' JDL_ + field."""
    def names(c: type[BaseSettings], skip: set[str]) -> set[str]:
        prefix = c.model_config.get("env_prefix", "")
        out = set()
        for fname, field in c.model_fields.items():
            assert field.validation_alias is None and field.alias is None, \
                f"{c.__name__}.{fname} has an alias: teach env_names about it"
            if fname not in skip:
                out.add((prefix + fname).upper())
        return out
    return names(cls, {"infra"}) | names(InfraSettings, set())


def build_settings(cls: type[BaseSettings], env: dict[str, str], monkeypatch) -> BaseSettings:
    """Construct the settings exactly as the process would, from ``env`` alone."""
    for key in list(os.environ):
        if key.startswith("JDL_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def fake_secret_values() -> dict[str, str]:
    """Values a real installation would put in the Secret: not the development defaults."""
    return {"JDL_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "JDL_S3_ACCESS_KEY": "prod-" + os.urandom(8).hex(),
            "JDL_S3_SECRET_KEY": os.urandom(20).hex(),
            "JDL_INTAKE_TOKENS": json.dumps({os.urandom(16).hex(): "ops"}),
            "JDL_KAFKA_SASL_USERNAME": "jdl-services",
            "JDL_KAFKA_SASL_PASSWORD": os.urandom(16).hex(),
            "JDL_PURGE_CHECKPOINT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode()}


# --- Kubernetes ------------------------------------------------------------------------------
def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomization(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "kustomization.yaml").read_text(encoding="utf-8"))


def base_objects() -> list[dict[str, Any]]:
    """The base's resources as written (each file holds complete objects)."""
    objs = []
    for rel in kustomization(K8S / "base")["resources"]:
        objs += load_yaml_docs(K8S / "base" / rel)
    return objs


def kustomize_bin() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        probe = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return ["kubectl", "kustomize"]
    return None


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each overlay as kustomize renders it (the objects kubectl apply -k would send)."""
    cmd = kustomize_bin()
    if cmd is None:
        pytest.skip("neither kustomize nor kubectl (with kustomize) is installed: overlays not "
                    "rendered; the base is still validated file by file")
    out = {}
    for overlay in ("dev", "prod"):
        proc = subprocess.run(cmd + [str(K8S / "overlays" / overlay)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"kustomize build overlays/{overlay} failed:\n{proc.stderr}"
        out[overlay] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def k8s_validate(obj: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


# KEDA's ScaledObject is a custom resource the Kubernetes schemas do not cover: the fields used
# here, with their types as in KEDA's CRD (keda.sh/v1alpha1); unknown fields are refused.
_HPA_POLICY = {"type": "object", "additionalProperties": False,
               "required": ["type", "value", "periodSeconds"],
               "properties": {"type": {"enum": ["Pods", "Percent"]},
                              "value": {"type": "integer", "minimum": 1},
                              "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800}}}
_HPA_RULES = {"type": "object", "additionalProperties": False,
              "properties": {"stabilizationWindowSeconds": {"type": "integer", "minimum": 0,
                                                            "maximum": 3600},
                             "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
                             "policies": {"type": "array", "items": _HPA_POLICY}}}
SCALEDOBJECT_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {"type": "object", "additionalProperties": False,
                                   "required": ["name"],
                                   "properties": {"apiVersion": {"type": "string"},
                                                  "kind": {"type": "string"},
                                                  "name": {"type": "string"},
                                                  "envSourceContainerName": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object", "additionalProperties": False, "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": {
                        "type": "object", "additionalProperties": False, "properties": {
                            "name": {"type": "string"},
                            "behavior": {"type": "object", "additionalProperties": False,
                                         "properties": {"scaleUp": _HPA_RULES,
                                                        "scaleDown": _HPA_RULES}}}}}},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["type", "metadata"],
                    "properties": {"type": {"type": "string"}, "name": {"type": "string"},
                                   # every trigger metadata value is a string in the CRD
                                   "metadata": {"type": "object",
                                                "additionalProperties": {"type": "string"}},
                                   "authenticationRef": {"type": "object"}}}},
            },
        },
    },
}


# KEDA's TriggerAuthentication (keda.sh/v1alpha1): the secretTargetRef form used here.
TRIGGERAUTH_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {"type": "object", "additionalProperties": False, "required": ["secretTargetRef"],
                 "properties": {"secretTargetRef": {"type": "array", "minItems": 1, "items": {
                     "type": "object", "additionalProperties": False,
                     "required": ["parameter", "name", "key"],
                     "properties": {"parameter": {"type": "string"}, "name": {"type": "string"},
                                    "key": {"type": "string"}}}}}},
    },
}
SCALEDOBJECT_SCHEMA["properties"]["spec"]["properties"]["triggers"]["items"]["properties"][
    "authenticationRef"] = {"type": "object", "additionalProperties": False, "required": ["name"],
                            "properties": {"name": {"type": "string"},
                                           "kind": {"enum": ["TriggerAuthentication",
                                                             "ClusterTriggerAuthentication"]}}}


def validate_object(obj: dict[str, Any]) -> None:
    if obj["kind"] == "ScaledObject":
        jsonschema.validate(obj, SCALEDOBJECT_SCHEMA)
    elif obj["kind"] == "TriggerAuthentication":
        jsonschema.validate(obj, TRIGGERAUTH_SCHEMA)
    else:
        k8s_validate(obj)


def container_env(container: dict[str, Any], objs: list[dict[str, Any]],
                  secret_values: dict[str, str] | None) -> dict[str, str]:
    """The environment a container gets: envFrom ConfigMaps/Secrets, then env entries.

    Secrets absent from ``objs`` (created outside git) take ``secret_values``, and every key
    referenced must be one the template (base/secret.example.yaml) declares.
    """
    configmaps = by_kind(objs, "ConfigMap")
    secrets = by_kind(objs, "Secret")
    template = load_yaml_docs(K8S / "base" / "secret.example.yaml")[0]

    def secret_data(name: str) -> dict[str, str]:
        if name in secrets:
            s = secrets[name]
            data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
            data.update(s.get("stringData") or {})
            return data
        assert name == template["metadata"]["name"], f"Secret {name} is neither rendered nor templated"
        assert secret_values is not None, f"Secret {name} must come from outside git here"
        assert set(template["stringData"]) <= set(secret_values)
        return {k: secret_values[k] for k in template["stringData"]}

    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            name = src["configMapRef"]["name"]
            assert name in configmaps, f"envFrom ConfigMap {name} does not exist"
            env.update(configmaps[name]["data"])
        else:
            env.update(secret_data(src["secretRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            data = secret_data(ref["secretKeyRef"]["name"])
            key = ref["secretKeyRef"]["key"]
        else:
            name = ref["configMapKeyRef"]["name"]
            assert name in configmaps, f"configMapKeyRef to missing ConfigMap {name}"
            data, key = configmaps[name]["data"], ref["configMapKeyRef"]["key"]
        assert key in data, f"{item['name']}: key {key} is not in the referenced object"
        env[item["name"]] = data[key]
    return env


def workload_deployments(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: d for n, d in by_kind(objs, "Deployment").items() if n in WORKLOADS}


class TestKustomizeStructure:
    def test_every_listed_file_exists_and_overlays_build_on_the_base(self):
        for directory in [K8S / "base", K8S / "overlays" / "dev", K8S / "overlays" / "prod",
                          K8S / "jobs" / "national-dataset"]:
            k = kustomization(directory)
            assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
            assert k["kind"] == "Kustomization"
            for rel in k.get("resources", []):
                assert (directory / rel).exists(), f"{directory}/{rel} listed but missing"
            for patch in k.get("patches", []):
                if "path" in patch:
                    assert (directory / patch["path"]).is_file()
            for gen in k.get("secretGenerator", []) + k.get("configMapGenerator", []):
                for f in gen.get("envs", []) + gen.get("files", []):
                    assert (directory / f).is_file(), f"{directory}: generator input {f} missing"
        for overlay in ("dev", "prod"):
            assert "../../base" in kustomization(K8S / "overlays" / overlay)["resources"]

    def test_every_yaml_file_under_k8s_is_listed_somewhere(self):
        """A manifest nobody lists is never applied; only the Secret template and the overlays
        (the entry points) are listed by no kustomization."""
        listed = set()
        for k_file in K8S.rglob("kustomization.yaml"):
            k = yaml.safe_load(k_file.read_text())
            for rel in k.get("resources", []) + [p["path"] for p in k.get("patches", []) if "path" in p]:
                listed.add((k_file.parent / rel).resolve())
                if (k_file.parent / rel).is_dir():   # a kustomization used as a resource
                    listed.add((k_file.parent / rel / "kustomization.yaml").resolve())
        entry_points = {K8S / "overlays" / o / "kustomization.yaml" for o in ("dev", "prod")}
        for path in K8S.rglob("*.yaml"):
            if path in entry_points or path.name == "secret.example.yaml":
                continue
            assert path.resolve() in listed, f"{path.relative_to(ROOT)} is in no kustomization"

    def test_secret_template_is_not_applied_and_holds_no_values(self):
        assert "secret.example.yaml" not in kustomization(K8S / "base")["resources"]
        template = load_yaml_docs(K8S / "base" / "secret.example.yaml")[0]
        assert template["kind"] == "Secret"
        for key, value in template["stringData"].items():
            assert value.startswith("<") or value == "{}", f"{key} in the template has a value"
            assert any(key in env_names(settings_class(s)) for s in ("intake", "purge")), \
                f"{key} is no setting"


class TestKubernetesSchemas:
    def test_base_files_validate_against_the_kubernetes_schemas(self):
        objs = base_objects()
        assert {o["kind"] for o in objs} >= {"Namespace", "ConfigMap", "Deployment", "Service",
                                             "Job", "ScaledObject", "PodDisruptionBudget"}
        for obj in objs + load_yaml_docs(K8S / "base" / "secret.example.yaml"):
            validate_object(obj)

    def test_rendered_overlays_validate(self, rendered):
        for overlay, objs in rendered.items():
            for obj in objs:
                try:
                    validate_object(obj)
                except Exception as e:  # name the object: the schema error alone does not
                    raise AssertionError(f"{overlay}: {obj['kind']}/{obj['metadata']['name']}: {e}") from e

    def test_the_validators_catch_a_misspelt_field(self):
        import kubernetes_validate

        deployment = copy.deepcopy(by_kind(base_objects(), "Deployment")["linkage"])
        deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
        with pytest.raises(kubernetes_validate.ValidationError):
            k8s_validate(deployment)
        scaled = copy.deepcopy(by_kind(base_objects(), "ScaledObject")["linkage"])
        scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5   # must be a string
        with pytest.raises(jsonschema.ValidationError):
            validate_object(scaled)


class TestDeployments:
    def test_one_deployment_per_service_directory_and_the_api_and_no_other(self):
        deployments = by_kind(base_objects(), "Deployment")
        running = {}
        for name, d in deployments.items():
            command = d["spec"]["template"]["spec"]["containers"][0]["command"]
            if command[:2] == ["python", "-m"] and command[2].startswith("services."):
                running[name] = tuple(command)
        assert set(running) == set(WORKLOADS), "Deployments and services/ disagree"
        for name, command in running.items():
            assert command == WORKLOADS[name].command, f"{name} runs {command}"
            assert (ROOT / "services" / WORKLOADS[name].service / "__main__.py").exists()

    @pytest.mark.parametrize("overlay", ["base", "dev", "prod"])
    def test_env_names_are_settings_fields_and_settings_build(self, overlay, rendered, monkeypatch):
        objs = base_objects() if overlay == "base" else rendered[overlay]
        secret_values = None if overlay == "dev" else fake_secret_values()
        for name, d in workload_deployments(objs).items():
            w = WORKLOADS[name]
            cls = settings_class(w.service)
            [container] = d["spec"]["template"]["spec"]["containers"]
            env = container_env(container, objs, secret_values)
            jdl = {k: v for k, v in env.items() if k.startswith("JDL_")}
            unknown = set(jdl) - env_names(cls)
            assert not unknown, f"{overlay}/{name}: {sorted(unknown)} are read by no setting"
            settings = build_settings(cls, jdl, monkeypatch)
            # the probes and the Prometheus annotation reach the port the service listens on
            port = getattr(settings, w.port_field)
            declared = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = container[probe]["httpGet"]
                assert get["path"] == "/healthz", f"{name} {probe}"
                assert declared[get["port"]] == port, f"{overlay}/{name}: {probe} port != {port}"
            annotations = d["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == str(port)
            assert annotations["prometheus.io/path"] == "/metrics"
            host = settings.api_host if w.port_field == "api_port" else settings.web_host
            assert host == "0.0.0.0", f"{name} would listen on {host} only"
            assert settings.infra.data_dir == Path("/var/lib/jdl/national")
            if overlay != "dev":
                assert settings.infra.environment == "production"
                # only the services that encrypt or decrypt hold the master key (least privilege)
                needs_key = name in ("linkage", "matching", "intake-api")
                assert (settings.infra.master_key is not None) == needs_key, name

    def test_dev_overlay_generates_its_development_secret(self, rendered, monkeypatch):
        [secret] = [s for n, s in by_kind(rendered["dev"], "Secret").items()
                    if n.startswith("jdl-secrets")]
        keys = set(secret["data"])
        template = load_yaml_docs(K8S / "base" / "secret.example.yaml")[0]
        assert keys == set(template["stringData"])
        key = base64.b64decode(base64.b64decode(secret["data"]["JDL_MASTER_KEY"]))
        assert len(key) == 32

    def test_prod_overlay_carries_no_secret_and_runs_as_production(self, rendered):
        prod = rendered["prod"]
        assert by_kind(prod, "Secret") == {}
        text = yaml.safe_dump_all(prod)
        dev_key = (K8S / "overlays" / "dev" / "dev-secrets.env").read_text().split(
            "JDL_MASTER_KEY=")[1].split()[0]
        for leaked in (dev_key, DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY):
            assert leaked not in text
        config = by_kind(prod, "ConfigMap")["jdl-config"]["data"]
        assert config["JDL_ENVIRONMENT"] == "production"
        assert config["JDL_S3_SECURE"] == "true"
        for d in workload_deployments(prod).values():
            assert ":" in d["spec"]["template"]["spec"]["containers"][0]["image"], "image untagged"

    def test_resources_and_security_of_every_container(self):
        for name, d in by_kind(base_objects(), "Deployment").items():
            pod = d["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            for c in pod["containers"]:
                res = c["resources"]
                assert {"cpu", "memory"} <= set(res["requests"]), name
                assert "memory" in res["limits"], name
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"]
                assert sc["capabilities"]["drop"] == ["ALL"]
                # a read-only root: the writable paths the image expects are volumes
                mounted = {m["mountPath"] for m in c["volumeMounts"]}
                assert {"/tmp", "/var/lib/jdl/faust", "/var/lib/jdl/work"} <= mounted, name

    def test_national_data_is_mounted_read_only_where_it_is_read(self):
        deployments = by_kind(base_objects(), "Deployment")
        for name in ("linkage", "matching"):
            mounts = deployments[name]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            [m] = [m for m in mounts if m["name"] == "national-data"]
            assert m["mountPath"] == "/var/lib/jdl/national" and m["readOnly"] is True
        claims = by_kind(base_objects(), "PersistentVolumeClaim")
        for d in deployments.values():
            for v in d["spec"]["template"]["spec"].get("volumes", []):
                if "persistentVolumeClaim" in v:
                    assert v["persistentVolumeClaim"]["claimName"] in claims

    def test_api_service_and_disruption_budgets_select_existing_pods(self):
        objs = base_objects()
        deployments = by_kind(objs, "Deployment")

        def selected(selector: dict[str, str]) -> list[str]:
            return [n for n, d in deployments.items()
                    if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

        service = by_kind(objs, "Service")["intake-api"]
        assert selected(service["spec"]["selector"]) == ["intake-api"]
        ports = {p["name"] for p in deployments["intake-api"]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert service["spec"]["ports"][0]["targetPort"] in ports
        for name, pdb in by_kind(objs, "PodDisruptionBudget").items():
            assert selected(pdb["spec"]["selector"]["matchLabels"]) == [name]

    def test_topic_job_runs_the_applier_baked_into_the_image(self):
        job = by_kind(base_objects(), "Job")["kafka-topics"]
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:2] == ["python", "/opt/jdl/kafka/apply_topics.py"]
        assert command[command.index("--file") + 1] == "/opt/jdl/kafka/topics.yaml"
        dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
        assert "COPY deploy/kafka/topics.yaml deploy/kafka/apply_topics.py /opt/jdl/kafka/" in dockerfile

    def test_dev_topic_job_lowers_replication_for_one_broker(self, rendered):
        dev_job = by_kind(rendered["dev"], "Job")["kafka-topics"]
        command = dev_job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[-2:] == ["--replication-factor", "1"]
        prod_job = by_kind(rendered["prod"], "Job")["kafka-topics"]
        assert "--replication-factor" not in prod_job["spec"]["template"]["spec"]["containers"][0]["command"]

    def test_dev_national_data_job_prepares_the_volume_the_workers_read(self, rendered):
        job = by_kind(rendered["dev"], "Job")["national-data"]
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["sh", PREPARE_DATA_IN_IMAGE]
        env = {e["name"]: e["value"] for e in container["env"]}
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "national-data"]
        assert mount["mountPath"] == env["JDL_DATA_DIR"] and not mount.get("readOnly")
        config = by_kind(rendered["dev"], "ConfigMap")["jdl-config"]["data"]
        assert env["JDL_DATA_DIR"] == config["JDL_DATA_DIR"]

    def test_dev_minio_policy_is_the_compose_policy(self):
        a = json.loads((K8S / "overlays" / "dev" / "jdl-services-policy.json").read_text())
        b = json.loads((DEPLOY / "compose" / "minio" / "jdl-services-policy.json").read_text())
        assert a == b
        actions = {a for s in b["Statement"] for a in s["Action"]}
        # the purge deletes every version and lists versions to verify
        assert {"s3:DeleteObjectVersion", "s3:ListBucketVersions"} <= actions


class TestLinkageAutoscaling:
    def test_scaled_object_targets_linkage_lag_with_the_partition_ceiling(self, rendered):
        for objs in [base_objects()] + list(rendered.values()):
            scaled = by_kind(objs, "ScaledObject")["linkage"]
            spec = scaled["spec"]
            assert spec["scaleTargetRef"]["name"] == "linkage"
            deployment = by_kind(objs, "Deployment")["linkage"]
            assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
            [trigger] = spec["triggers"]
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["topic"] == topic_defs.SUBMISSION_RECEIVED
            # more consumers than partitions would sit idle
            assert spec["maxReplicaCount"] == topic_defs.spec(topic_defs.SUBMISSION_RECEIVED).partitions
            assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
            # faust's consumer group id is its app id
            assert meta["consumerGroup"] == app_ids_in_code()["linkage"]
            assert meta["allowIdleConsumers"] == "false"
            # bootstrap servers come from the target container's env, which must define them
            env = container_env(deployment["spec"]["template"]["spec"]["containers"][0], objs,
                                fake_secret_values())
            assert meta["bootstrapServersFromEnv"] in env


# --- compose ---------------------------------------------------------------------------------
_INTERP = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ escapes, recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        current = env.get(name)
        empty = current is None or (current == "" and op is not None and op.startswith(":"))
        if op and op.endswith("?") and empty:
            raise MissingVariable(f"{name}: {arg}")
        if op and op.endswith("-") and empty:
            return arg
        return current or ""

    parts = value.split("$$")
    return "$".join(_INTERP.sub(sub, p) for p in parts)


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def compose_doc() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def filled_env(**overrides: str) -> dict[str, str]:
    env = env_file(COMPOSE.parent / ".env.example")
    env.update(JDL_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
               MINIO_ROOT_PASSWORD="a-long-admin-password", GRAFANA_ADMIN_PASSWORD="pw")
    env.update(overrides)
    return env


def compose_workloads(doc: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    out = {}
    for name, svc in doc["services"].items():
        command = svc.get("command")
        if isinstance(command, list) and command[:2] == ["python", "-m"] \
                and command[2].startswith("services."):
            out[name] = tuple(command)
    return out


class TestCompose:
    def test_validates_against_the_compose_specification_schema(self):
        schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
        validator = jsonschema.Draft201909Validator(schema)
        doc = compose_doc()
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, "\n".join(errors)
        bad = copy.deepcopy(doc)
        bad["services"]["linkage"]["helthcheck"] = bad["services"]["linkage"].pop("healthcheck")
        assert list(validator.iter_errors(bad)), "the schema should refuse an unknown key"

    def test_services_have_images_and_dependencies_exist(self):
        doc = compose_doc()
        services = doc["services"]
        for name, svc in services.items():
            assert "image" in svc or "build" in svc, name
            if "build" in svc:
                context = (COMPOSE.parent / svc["build"]["context"]).resolve()
                assert context == ROOT
                assert (context / svc["build"]["dockerfile"]).is_file()
            for dep, cond in (svc.get("depends_on") or {}).items():
                assert dep in services, f"{name} depends on unknown {dep}"
                condition = cond["condition"]
                if condition == "service_healthy":
                    assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
                if condition == "service_completed_successfully":
                    assert services[dep].get("restart") == "no", f"{dep} is not a one-shot job"
            for volume in svc.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
                else:
                    assert source in doc["volumes"], f"{name}: volume {source} not declared"

    def test_every_service_directory_runs_in_compose_and_nothing_else_does(self):
        running = compose_workloads(compose_doc())
        assert set(running) == set(WORKLOADS)
        for name, command in running.items():
            assert command == WORKLOADS[name].command

    def test_infrastructure_and_one_shot_jobs_are_there(self):
        services = compose_doc()["services"]
        assert services["kafka"]["image"].startswith("apache/kafka:")
        assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
        assert "python" in services["kafka-topics"]["command"][0]
        assert "/opt/jdl/kafka/apply_topics.py" in services["kafka-topics"]["command"]
        init = "\n".join(services["minio-init"]["command"])
        assert "mc version enable jdl/jdl" in init
        assert services["dataset"]["command"] == ["sh", PREPARE_DATA_IN_IMAGE]
        assert services["dataset"]["volumes"] == ["national-data:/var/lib/jdl/national"]
        assert services["prometheus"]["volumes"][0].startswith("../prometheus:")
        for name in WORKLOADS:
            deps = services[name]["depends_on"]
            assert deps["kafka-topics"]["condition"] == "service_completed_successfully"
            assert deps["minio-init"]["condition"] == "service_completed_successfully"
        for name in ("linkage", "matching"):
            assert services[name]["depends_on"]["dataset"]["condition"] == "service_completed_successfully"

    def test_compose_refuses_to_start_without_a_master_key(self):
        env = env_file(COMPOSE.parent / ".env.example")
        assert env["JDL_MASTER_KEY"] == ""
        with pytest.raises(MissingVariable, match="JDL_MASTER_KEY"):
            interpolate(compose_doc()["services"]["linkage"]["environment"], env)

    def test_env_example_names_only_real_settings(self):
        every = set().union(*(env_names(settings_class(s)) for s in SERVICE_DIRS))
        for key in env_file(COMPOSE.parent / ".env.example"):
            if key.startswith("JDL_"):
                assert key in every, f".env.example: {key} is read by no setting"

    def test_env_names_match_settings_and_health_checks_hit_the_listening_port(self, monkeypatch):
        doc = interpolate(compose_doc(), filled_env())
        for name, w in WORKLOADS.items():
            svc = doc["services"][name]
            cls = settings_class(w.service)
            env = {k: str(v) for k, v in svc["environment"].items()}
            unknown = set(env) - env_names(cls)
            assert not unknown, f"compose {name}: {sorted(unknown)} are read by no setting"
            settings = build_settings(cls, env, monkeypatch)
            port = getattr(settings, w.port_field)
            check = " ".join(svc["healthcheck"]["test"])
            assert f"http://127.0.0.1:{port}/healthz" in check, f"{name} health check misses {port}"
            assert settings.infra.kafka_bootstrap == "kafka:9092"
            assert settings.infra.store_url == "s3://jdl"
            # only the services that encrypt or decrypt hold the master key (least privilege)
            needs_key = name in ("linkage", "matching", "intake-api")
            assert (settings.infra.master_key is not None) == needs_key, name

    def test_production_refuses_the_development_credentials(self, monkeypatch):
        doc = interpolate(compose_doc(), filled_env(JDL_ENVIRONMENT="production"))
        env = {k: str(v) for k, v in doc["services"]["linkage"]["environment"].items()}
        with pytest.raises(ValidationError, match="development credentials"):
            build_settings(settings_class("linkage"), env, monkeypatch)
        doc = interpolate(compose_doc(), filled_env(JDL_ENVIRONMENT="production",
                                                    JDL_S3_ACCESS_KEY="prod-access-1234",
                                                    JDL_S3_SECRET_KEY="a-real-secret-key-5678"))
        env = {k: str(v) for k, v in doc["services"]["linkage"]["environment"].items()}
        assert build_settings(settings_class("linkage"), env, monkeypatch).infra.environment == "production"

    def test_prometheus_scrapes_each_workload_where_compose_runs_it(self, monkeypatch):
        config = yaml.safe_load((PROM / "prometheus.yml").read_text())
        jobs = {j["job_name"]: j for j in config["scrape_configs"]}
        doc = interpolate(compose_doc(), filled_env())
        for name, w in WORKLOADS.items():
            job = jobs[f"jdl-{name}"]
            [sd] = job["dns_sd_configs"]
            assert sd["names"] == [name]
            env = {k: str(v) for k, v in doc["services"][name]["environment"].items()}
            settings = build_settings(settings_class(w.service), env, monkeypatch)
            assert sd["port"] == getattr(settings, w.port_field)
            assert job["metrics_path"] == "/metrics"


# --- Dockerfile ------------------------------------------------------------------------------
def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes; a match covers children."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        for candidate in prefixes:
            if fnmatch.fnmatchcase(candidate, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.split("/")[-1], pattern[3:])):
                excluded = not negate
                break
    return excluded


class TestDockerfile:
    def dockerfile(self) -> list[tuple[str, str]]:
        text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
        return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
                for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    def test_multi_stage_slim_python_non_root(self):
        instructions = self.dockerfile()
        args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
        froms = [a for k, a in instructions if k == "FROM"]
        assert len(froms) >= 2 and all(" AS " in f.upper() for f in froms)
        assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
        last = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
        users = [a for k, a in instructions[last:] if k == "USER"]
        assert users, "the runtime stage sets no USER"
        uid = users[-1].split(":")[0].replace("${UID}", args["UID"])
        assert uid.isdigit() and int(uid) != 0
        runtime = " ".join(a for _, a in instructions[last:])
        assert "build-essential" not in runtime, "the compiler belongs in the build stage only"

    def test_copied_paths_exist_and_are_in_the_build_context(self):
        patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        copies = [a for k, a in self.dockerfile() if k == "COPY" and "--from" not in a]
        assert copies
        for args in copies:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not dockerignore_excludes(source.rstrip("/"), patterns), \
                    f"COPY {source}: excluded by .dockerignore"
        for heavy in (".venv", ".git", "var", "data", "tests", "services/intake/__pycache__"):
            assert dockerignore_excludes(heavy, patterns), f"{heavy} would be sent to the daemon"

    def test_national_data_script_is_in_the_image_and_trains_the_model(self):
        copies = [a for k, a in self.dockerfile() if k == "COPY"]
        assert f"deploy/docker/prepare-national-data.sh {Path(PREPARE_DATA_IN_IMAGE).parent}/" in copies
        script = (DEPLOY / "docker" / "prepare-national-data.sh").read_text()
        # the services mount the dataset read-only: the model must be trained before them
        assert "jdl data generate" in script and "load_linkage_model" in script
        proc = subprocess.run(["sh", "-n", str(DEPLOY / "docker" / "prepare-national-data.sh")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    def test_image_env_names_are_infra_settings(self):
        env_lines = " ".join(a for k, a in self.dockerfile() if k == "ENV")
        names = set(re.findall(r"\b(JDL_[A-Z0-9_]+)=", env_lines))
        assert names and names <= env_names(InfraSettings)


# --- Kafka topics ----------------------------------------------------------------------------
def app_ids_in_code() -> dict[str, str]:
    out = {}
    for service in SERVICE_DIRS:
        source = (ROOT / "services" / service / "app.py").read_text()
        m = re.search(r'^APP_ID\s*=\s*"([^"]+)"', source, re.M)
        assert m, f"services/{service}/app.py defines no APP_ID"
        out[service] = m.group(1)
    return out


class TestKafkaTopics:
    def test_committed_yaml_is_the_rendered_one(self):
        committed = (DEPLOY / "kafka" / "topics.yaml").read_text()
        assert committed == render_topics.render(), \
            "deploy/kafka/topics.yaml is stale: python deploy/kafka/render_topics.py > deploy/kafka/topics.yaml"
        assert render_topics.main(["--check", str(DEPLOY / "kafka" / "topics.yaml")]) == 0

    def test_every_topic_of_the_code_with_its_partitions_and_retention(self):
        doc = yaml.safe_load((DEPLOY / "kafka" / "topics.yaml").read_text())
        entries = {t["name"]: t for t in doc["topics"]}
        for spec in topic_defs.all_topic_specs():
            entry = entries[spec.name]
            assert entry["partitions"] == spec.partitions
            assert entry["config"]["retention.ms"] == str(spec.retention_ms)
            assert entry["config"]["cleanup.policy"] == spec.cleanup_policy
        assert doc["replication_factor"] >= 3 and doc["min_insync_replicas"] >= 2

    def test_faust_internal_topics_named_as_faust_names_them(self):
        doc = yaml.safe_load((DEPLOY / "kafka" / "topics.yaml").read_text())
        entries = {t["name"]: t for t in doc["topics"]}
        ids = app_ids_in_code()
        assert ids == render_topics.APP_IDS
        for service, app_id in ids.items():
            assert f"{app_id}-__assignor-__leader" in entries
            source = (ROOT / "services" / service / "app.py").read_text()
            for table in re.findall(r'\.Table\(\s*"([A-Za-z0-9_.-]+)"', source):
                changelog = entries.get(f"{app_id}-{table}-changelog")
                assert changelog, f"faust table {table} of {app_id} has no changelog topic"
                # a table's changelog is co-partitioned with the event topics feeding it
                assert changelog["partitions"] == topic_defs.PARTITIONS
                assert "compact" in changelog["config"]["cleanup.policy"]
        assert "jdl-intake-status-changelog" in entries

    def test_workers_wait_for_exactly_the_topics_the_job_declares(self):
        """The start-up check (jdl_infra.preflight) waits for topics by name: each must be one
        the kafka-topics Job creates, or the worker would wait for ever and refuse to start."""
        from jdl_infra.preflight import required_topics

        declared = {t["name"] for t in yaml.safe_load((DEPLOY / "kafka" / "topics.yaml").read_text())["topics"]}
        for service, app_id in app_ids_in_code().items():
            source = (ROOT / "services" / service / "app.py").read_text()
            tables = re.findall(r'\.Table\(\s*"([A-Za-z0-9_.-]+)"', source)
            main = (ROOT / "services" / service / "__main__.py").read_text()
            # run_service runs the check with the app's own id and every table it declares
            # (tests/unit/test_run_service.py shows both reach run_preflight)
            assert "run_service(create_app" in main, f"{service} starts without the check"
            missing = set(required_topics(app_id, tables)) - declared
            assert not missing, f"{service} would wait for undeclared topics {sorted(missing)}"

    def test_nothing_about_a_submission_outlives_the_bounds(self):
        day = 86400 * 1000
        purge_retention_ms = InfraSettings.model_fields["retention_days"].default * day
        doc = yaml.safe_load((DEPLOY / "kafka" / "topics.yaml").read_text())
        for t in doc["topics"]:
            c = {k: int(v) for k, v in t["config"].items() if k != "cleanup.policy"}
            policy = t["config"]["cleanup.policy"]
            assert c["segment.ms"] <= day and c["max.compaction.lag.ms"] <= day, t["name"]
            # every record is gone within retention + one segment, at most 36 days
            assert c["retention.ms"] + c["segment.ms"] <= 36 * day, t["name"]
            if "compact" in policy:
                assert policy == "compact,delete", f"{t['name']}: compaction alone keeps keys forever"
                assert c["delete.retention.ms"] <= day
                # live status entries are never dropped by age before the purge sweep ran
                assert c["retention.ms"] > purge_retention_ms

    def test_load_plan_overrides_replication_and_clamps_min_isr(self, tmp_path):
        plan = apply_topics.load_plan(DEPLOY / "kafka" / "topics.yaml")
        assert {p.replication_factor for p in plan} == {3}
        assert {p.config["min.insync.replicas"] for p in plan} == {"2"}
        single = apply_topics.load_plan(DEPLOY / "kafka" / "topics.yaml", replication_factor=1)
        assert {p.config["min.insync.replicas"] for p in single} == {"1"}
        assert [p.name for p in single] == [p.name for p in plan]
        bad = tmp_path / "topics.yaml"
        bad.write_text("topics: [{name: a, partitions: 1}, {name: a, partitions: 1}]\nreplication_factor: 1\n")
        with pytest.raises(apply_topics.PlanError, match="appears twice"):
            apply_topics.load_plan(bad)
        with pytest.raises(apply_topics.PlanError, match="--replication-factor 0"):
            apply_topics.load_plan(DEPLOY / "kafka" / "topics.yaml", replication_factor=0)


# --- Prometheus ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.fail("promtool is missing but could be installed: run `make sysdeps` "
                    "(or apt-get install -y prometheus) and rerun")
    pytest.skip("promtool is not installed and cannot be here (no apt-get or not root); "
                "install Debian's prometheus package to run the rule tests")


def run_promtool(promtool: str, *args: str, cwd: Path = PROM) -> str:
    proc = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def rule_files() -> list[Path]:
    return sorted((PROM / "rules").glob("*.yml"))


def all_rules() -> list[dict[str, Any]]:
    return [r for f in rule_files() for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def exported_series() -> dict[str, set[str]]:
    """Sample name -> label names, for every metric defined in jdl_infra.metrics."""
    from prometheus_client.metrics import MetricWrapperBase

    out: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        labels = set(obj._labelnames)
        suffixes = {"counter": ["_total", "_created"], "gauge": [""],
                    "histogram": ["_bucket", "_sum", "_count", "_created"]}[obj._type]
        for suffix in suffixes:
            out[obj._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RECORDED = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+\b")
_SELECTOR = re.compile(r"\b(jdl_[a-z0-9_]+)\s*(\{[^}]*\})?")


def check_expr_metrics(expr: str, recorded: set[str], where: str) -> None:
    series = exported_series()
    for name in _RECORDED.findall(_STRING.sub('""', expr)):
        assert name in recorded, f"{where}: {name} is no recording rule"
    bare = _RECORDED.sub(" ", expr)
    for name, matchers in _SELECTOR.findall(bare):
        assert name in series, f"{where}: {name} is not exported by jdl_infra.metrics"
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)", matchers or ""):
            assert label in series[name] | {"job", "instance"}, f"{where}: {name} has no label {label}"
        if "le=" in (matchers or ""):
            le = re.search(r'le="([^"]+)"', matchers).group(1)
            assert le in bucket_labels(name), f"{where}: {name} has no bucket le={le}"
    for value in re.findall(r'stage="([^"]+)"', expr):
        assert value in metrics.STAGES, f"{where}: stage {value} is not one of metrics.STAGES"


def bucket_labels(sample_name: str) -> set[str]:
    from prometheus_client.utils import floatToGoString

    base = sample_name.removesuffix("_bucket")
    for obj in vars(metrics).values():
        if getattr(obj, "_name", None) == base:
            return {floatToGoString(b) for b in obj._upper_bounds}
    return set()


class TestPrometheus:
    def test_promtool_checks_config_and_rules(self, promtool):
        out = run_promtool(promtool, "check", "config", "prometheus.yml")
        assert "SUCCESS" in out
        run_promtool(promtool, "check", "rules", *[str(f) for f in rule_files()])

    def test_promtool_rule_tests_pass(self, promtool):
        tests = sorted((PROM / "tests").glob("*.yml"))
        assert tests
        out = run_promtool(promtool, "test", "rules", *[str(t.relative_to(PROM)) for t in tests])
        assert out.count("SUCCESS") == len(tests)

    def test_every_alert_has_a_firing_and_a_quiet_test_case(self):
        fired: set[str] = set()
        quiet: set[str] = set()
        for path in (PROM / "tests").glob("*.yml"):
            doc = yaml.safe_load(path.read_text())
            for rule_file in doc["rule_files"]:
                assert (path.parent / rule_file).resolve().is_file()
            for case in doc["tests"]:
                for t in case.get("alert_rule_test", []):
                    (fired if t["exp_alerts"] else quiet).add(t["alertname"])
        alerts = {r["alert"] for r in all_rules() if "alert" in r}
        assert alerts >= {"JdlOldestRequestApproachingSla", "JdlOldestRequestBreachedSla",
                          "JdlTurnaroundObjectiveMissed", "JdlStageStuck", "JdlDeadLetters",
                          "JdlPurgeOverdue", "JdlPurgeFailed"}
        assert alerts - fired == set(), "alerts never shown to fire"
        assert alerts - quiet == set(), "alerts never shown to stay quiet"

    def test_overdue_purge_alert_is_critical_after_five_minutes(self):
        [rule] = [r for r in all_rules() if r.get("alert") == "JdlPurgeOverdue"]
        assert rule["labels"]["severity"] == "critical" and rule["for"] == "5m"
        assert re.search(r"jdl_purges_overdue(\{[^}]*\})?\)?\s*>\s*0\b", rule["expr"])

    def test_rules_use_only_exported_metrics_and_labels(self):
        recorded = {r["record"] for r in all_rules() if "record" in r}
        for rule in all_rules():
            check_expr_metrics(rule["expr"], recorded, rule.get("record") or rule.get("alert"))

    def test_fourteen_day_bucket_is_written_as_the_rules_expect(self):
        from prometheus_client import CollectorRegistry, Histogram, generate_latest

        assert 14 * metrics.DAY in metrics.TURNAROUND_BUCKETS
        registry = CollectorRegistry()
        Histogram("t_seconds", "t", buckets=metrics.TURNAROUND_BUCKETS, registry=registry)
        assert 'le="1.2096e+06"' in generate_latest(registry).decode()
        sla = (PROM / "rules" / "turnaround-sla.yml").read_text()
        assert 'jdl_turnaround_seconds_bucket{le="1.2096e+06"}' in sla


# --- Grafana ---------------------------------------------------------------------------------
def dashboard_targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target))
    return out


class TestGrafana:
    def dashboard(self) -> dict[str, Any]:
        return json.loads((GRAFANA / "dashboards" / "jdl-queue.json").read_text())

    def test_every_json_and_yaml_file_under_deploy_parses(self):
        count = 0
        for path in DEPLOY.rglob("*"):
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix in (".yml", ".yaml"):
                list(yaml.safe_load_all(path.read_text()))
            else:
                continue
            count += 1
        assert count > 30

    def test_dashboard_structure_and_datasource(self):
        d = self.dashboard()
        provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
        uid = provisioning["datasources"][0]["uid"]
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)) and d["uid"] == "jdl-queue"
        for panel in d["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == uid and t["expr"].strip()
        titles = " ".join(p["title"] for p in d["panels"]).lower()
        for topic in ("open requests by stage", "turnaround distribution", "oldest open request",
                      "purge lag", "dead-lettered"):
            assert topic in titles
        dashboards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "jdl.yml").read_text())
        assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
        assert "../grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose_doc()["services"]["grafana"]["volumes"]

    def test_dashboard_queries_use_exported_metrics_and_parse(self, promtool, tmp_path):
        recorded = {r["record"] for r in all_rules() if "record" in r}
        rules = []
        for i, (title, target) in enumerate(dashboard_targets(self.dashboard())):
            check_expr_metrics(target["expr"], recorded, f"panel {title!r}")
            expr = re.sub(r"\$__(range|rate_interval|interval)", "5m", target["expr"])
            rules.append({"record": f"dashboard:query_{i}", "expr": expr})
        path = tmp_path / "dashboard-queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        run_promtool(promtool, "check", "rules", str(path))


# --- the dashboard's turnaround and stage-time panels on real and day-scale data --------------
RECORDED = PROM / "tests" / "recorded"


def histogram_input_series(exposition: str, job: str, instance: str) -> list[dict[str, str]]:
    """promtool input series: every counter and histogram sample of a scrape, 0 for ten minutes
    (the process just started) then the scraped value."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(exposition):
        if family.type not in ("counter", "histogram"):
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            labels = dict(s.labels, job=job, instance=instance)
            body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append({"series": f"{s.name}{{{body}}}", "values": f"0x10 {s.value!r}x50"})
    return out


def quantile_bucket(expositions: str | list[str], name: str, q: float,
                    **labels: str) -> tuple[float, float]:
    """The bucket (lower, upper] that histogram_quantile(q) of the summed scrapes interpolates in."""
    from collections import Counter as Tally

    from prometheus_client.parser import text_string_to_metric_families

    summed: Tally[float] = Tally()
    for text in [expositions] if isinstance(expositions, str) else expositions:
        for f in text_string_to_metric_families(text):
            for s in f.samples:
                if s.name == f"{name}_bucket" and all(s.labels.get(k) == v for k, v in labels.items()):
                    summed[float(s.labels["le"])] += s.value
    buckets = sorted(summed.items())
    total = buckets[-1][1]
    assert total > 0, f"{name} {labels}: no observation in the scrape"
    lower = 0.0
    for upper, cumulative in buckets:
        if cumulative >= q * total:
            return lower, upper
        lower = upper
    raise AssertionError("unreachable")


def in_range_test(expr: str, lo: float, hi: float, eval_time: str = "60m") -> dict[str, Any]:
    """promtool expression test: `expr` has one sample and lo <= value <= hi."""
    return {"expr": f"count(({expr}) >= {lo!r} <= {hi!r})", "eval_time": eval_time,
            "exp_samples": [{"labels": "{}", "value": 1}]}


def run_panel_test(promtool: str, tmp_path: Path, series: list[dict], checks: list[dict]) -> None:
    doc = {"rule_files": [str(PROM / "rules" / "recording.yml"), str(PROM / "rules" / "turnaround-sla.yml")],
           "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}]}
    path = tmp_path / "panels_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run_promtool(promtool, "test", "rules", str(path), cwd=tmp_path)


class TestDashboardResolution:
    def panel_exprs(self) -> set[str]:
        d = json.loads((GRAFANA / "dashboards" / "jdl-queue.json").read_text())
        return {t["expr"] for _, t in dashboard_targets(d)}

    def test_second_scale_turnaround_and_stage_times_of_a_recorded_run(self, promtool, tmp_path):
        """The recorded scrape of a real run (a report in a few seconds): the turnaround panels
        read a value in the bucket of the real turnaround (at most 10 s, where the old 60 s first
        bucket read 30 s and 57 s), and each stage's 95th percentile reads within its bucket."""
        assert {"jdl:turnaround_seconds:p50_28d", "jdl:turnaround_seconds:p95_28d",
                "stage:jdl_stage_duration_seconds:p95_1h"} <= self.panel_exprs()
        series, checks = [], []
        scrapes = {p.stem: p.read_text() for p in RECORDED.glob("*.prom")}
        assert {"intake", "linkage", "matching", "reporting", "purge"} <= set(scrapes)
        for name, text in scrapes.items():
            series += histogram_input_series(text, f"jdl-{name.split('-')[0]}", f"{name}:1")
        intake = scrapes["intake"]
        for q, rule in ((0.5, "jdl:turnaround_seconds:p50_28d"), (0.95, "jdl:turnaround_seconds:p95_28d")):
            lo, hi = quantile_bucket(intake, "jdl_turnaround_seconds", q)
            assert hi <= 10, "the recorded run's reports took seconds"
            checks.append(in_range_test(rule, lo, hi))
        checks.append({"expr": "jdl:turnaround_within_14d:ratio28d", "eval_time": "60m",
                       "exp_samples": [{"labels": "jdl:turnaround_within_14d:ratio28d", "value": 1}]})
        for stage in ("linkage", "matching", "reporting", "purge"):
            replicas = [text for name, text in scrapes.items() if name.split("-")[0] == stage]
            lo, hi = quantile_bucket(replicas, "jdl_stage_duration_seconds", 0.95, stage=stage)
            checks.append(in_range_test(f'stage:jdl_stage_duration_seconds:p95_1h{{stage="{stage}"}}', lo, hi))
        run_panel_test(promtool, tmp_path, series, checks)

    def test_day_scale_turnarounds_read_between_the_day_buckets(self, promtool, tmp_path):
        from prometheus_client import CollectorRegistry, Histogram, generate_latest

        registry = CollectorRegistry()
        h = Histogram("jdl_turnaround_seconds", "t", buckets=metrics.TURNAROUND_BUCKETS, registry=registry)
        day = metrics.DAY
        for days in (2.5, 8, 8.5, 9, 9.2, 9.5, 11, 12, 13, 15):    # one past the 14-day level
            h.observe(days * day)
        text = generate_latest(registry).decode()
        series = histogram_input_series(text, "jdl-intake", "intake:6066")
        p50, p95 = quantile_bucket(text, "jdl_turnaround_seconds", 0.5), \
            quantile_bucket(text, "jdl_turnaround_seconds", 0.95)
        # the 10-day warning line has its own bucket edge: the median (9.1 d) reads 7-10 days
        assert p50 == (7 * day, 10 * day) and p95 == (14 * day, float("inf"))
        checks = [in_range_test("jdl:turnaround_seconds:p50_28d", *p50),
                  # above the highest bucket histogram_quantile answers its bound: "14 days or more"
                  {"expr": "jdl:turnaround_seconds:p95_28d", "eval_time": "60m",
                   "exp_samples": [{"labels": "jdl:turnaround_seconds:p95_28d", "value": 14 * day}]},
                  {"expr": "jdl:turnaround_within_14d:ratio28d", "eval_time": "60m",
                   "exp_samples": [{"labels": "jdl:turnaround_within_14d:ratio28d", "value": 0.9}]}]
        run_panel_test(promtool, tmp_path, series, checks)

    def test_buckets_span_seconds_to_fourteen_days_and_milliseconds_for_stages(self):
        t = metrics.TURNAROUND_BUCKETS
        assert t[:6] == (1, 2.5, 5, 10, 30, 60) and t[-2:] == (10 * metrics.DAY, 14 * metrics.DAY)
        assert list(t) == sorted(t) and metrics.STAGE_BUCKETS[0] == 0.005


# --- production shape: purge, Ingress, NetworkPolicy, Kafka replication and security ---------
def env_set_in_deploy(rendered: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Every JDL_* variable deploy/ sets: k8s (base and both overlays, ConfigMaps, Secret template,
    container env), compose (services and .env.example) and the Dockerfile."""
    names: set[str] = set()
    template = load_yaml_docs(K8S / "base" / "secret.example.yaml")[0]
    names |= set(template["stringData"])
    for objs in [base_objects()] + list(rendered.values()):
        for cm in by_kind(objs, "ConfigMap").values():
            names |= set(cm.get("data") or {})
        for kind in ("Deployment", "Job"):
            for obj in by_kind(objs, kind).values():
                for c in obj["spec"]["template"]["spec"]["containers"]:
                    names |= {e["name"] for e in c.get("env", [])}
    doc = compose_doc()
    for svc in doc["services"].values():
        env = svc.get("environment") or {}
        names |= set(env if isinstance(env, dict) else [e.split("=")[0] for e in env])
    names |= set(env_file(COMPOSE.parent / ".env.example"))
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    names |= set(re.findall(r"\b(JDL_[A-Z0-9_]+)=", dockerfile))
    return {n for n in names if n.startswith("JDL_")}


# Read by a setting but deliberately set nowhere in deploy/ (the reason is the value).
NOT_SET_IN_DEPLOY = {
    "JDL_KAFKA_SSL_CAFILE": "a path to a mounted CA file; only with a private CA (deploy/README.md)",
}


class TestProductionShape:
    def test_every_variable_set_in_deploy_is_read_and_every_setting_is_set(self, rendered):
        read = set().union(*(env_names(settings_class(s)) for s in SERVICE_DIRS))
        set_in_deploy = env_set_in_deploy(rendered)
        assert set_in_deploy - read == set(), "set in deploy/ but read by no settings class"
        missing = read - set_in_deploy - set(NOT_SET_IN_DEPLOY)
        assert missing == set(), f"read by a settings class but set nowhere in deploy/: {sorted(missing)}"

    def test_purge_is_one_pod_replaced_by_recreate_and_never_scaled(self, rendered):
        for objs in [base_objects()] + list(rendered.values()):
            purge = by_kind(objs, "Deployment")["purge"]
            assert purge["spec"]["strategy"] == {"type": "Recreate"}
            assert purge["spec"]["replicas"] == 1
            for scaler in by_kind(objs, "ScaledObject").values():
                assert scaler["spec"]["scaleTargetRef"]["name"] != "purge"
            assert "HorizontalPodAutoscaler" not in {o["kind"] for o in objs}
        assert "never scaled" in (K8S / "base" / "deployment-purge.yaml").read_text()

    def test_prod_ingress_routes_the_public_api_only(self, rendered):
        from jdl_infra.objectstore import MemoryStore
        from services.intake.api import create_api
        from services.intake.handlers import IntakePorts
        from services.intake.settings import IntakeSettings

        [ingress] = by_kind(rendered["prod"], "Ingress").values()
        paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"]
                 for p in rule["http"]["paths"]]

        def routed(url: str) -> bool:
            for path, kind in paths:
                if kind == "Exact" and url == path:
                    return True
                if kind == "Prefix" and (url == path or url.startswith(path.rstrip("/") + "/")):
                    return True
            return False

        for private in ("/metrics", "/docs", "/redoc", "/openapi.json", "/healthz", "/docs/oauth2-redirect"):
            assert not routed(private), f"the prod Ingress publishes {private}"
        api = create_api(IntakeSettings(), IntakePorts(MemoryStore(), None, lambda e: None))
        paths_served = set(api.openapi()["paths"]) | {getattr(r, "path", "") for r in api.routes}
        public = {p for p in paths_served if p.startswith("/v1/") or p in ("/", "/status", "/catalogue")}
        assert "/v1/submissions" in public
        for url in public:
            assert routed(re.sub(r"\{[^}]+\}", "x", url)), f"{url} is not routed"

    def test_only_prometheus_reaches_the_workers(self, rendered):
        for objs in [base_objects()] + list(rendered.values()):
            policies = by_kind(objs, "NetworkPolicy")
            workers = policies["workers-scraped-by-prometheus-only"]
            selector = workers["spec"]["podSelector"]["matchLabels"]
            for name, d in workload_deployments(objs).items():
                labels = d["spec"]["template"]["metadata"]["labels"]
                if name != "intake-api":
                    assert selector.items() <= labels.items(), f"{name} is not covered"
                    ports = {p["name"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
                    assert ports == {"web"}
            [rule] = workers["spec"]["ingress"]
            [peer] = rule["from"]
            assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
            assert [p["port"] for p in rule["ports"]] == ["web"]
            assert "intake-api-from-ingress-and-prometheus" in policies

    def test_replication_three_with_two_in_sync_in_prod_and_one_for_a_single_broker(self, rendered):
        topics_doc = yaml.safe_load((DEPLOY / "kafka" / "topics.yaml").read_text())
        prod = by_kind(rendered["prod"], "ConfigMap")["jdl-config"]["data"]
        assert prod["JDL_KAFKA_REPLICATION_FACTOR"] == str(topics_doc["replication_factor"]) == "3"
        assert topics_doc["min_insync_replicas"] == 2
        assert int(prod["JDL_KAFKA_TOPIC_WAIT_SECONDS"]) > 0
        dev = by_kind(rendered["dev"], "ConfigMap")["jdl-config"]["data"]
        assert dev["JDL_KAFKA_REPLICATION_FACTOR"] == "1"
        dev_job = by_kind(rendered["dev"], "Job")["kafka-topics"]["spec"]["template"]["spec"]["containers"][0]
        assert dev_job["command"][-2:] == ["--replication-factor", "1"]
        env = interpolate(compose_doc(), filled_env())["services"]["linkage"]["environment"]
        assert env["JDL_KAFKA_REPLICATION_FACTOR"] == "1"
        assert "--replication-factor" in compose_doc()["services"]["kafka-topics"]["command"]

    def test_kafka_security_reaches_the_job_the_services_and_keda(self, rendered, monkeypatch):
        prod = rendered["prod"]
        config = by_kind(prod, "ConfigMap")["jdl-config"]["data"]
        assert config["JDL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        secrets = fake_secret_values()
        job = by_kind(prod, "Job")["kafka-topics"]["spec"]["template"]["spec"]["containers"][0]
        job_env = container_env(job, prod, secrets)
        for key in ("JDL_KAFKA_BOOTSTRAP", "JDL_KAFKA_SECURITY_PROTOCOL", "JDL_KAFKA_SASL_MECHANISM",
                    "JDL_KAFKA_SASL_USERNAME", "JDL_KAFKA_SASL_PASSWORD"):
            assert key in job_env, f"the kafka-topics Job lacks {key}"
        # what apply_topics would connect with (it reads InfraSettings from the same variables)
        from jdl_infra.kafka_io import client_security

        infra = build_settings(InfraSettings, job_env, monkeypatch)
        security = client_security(infra)
        assert security["security_protocol"] == "SASL_SSL"
        assert security["sasl_plain_username"] == secrets["JDL_KAFKA_SASL_USERNAME"]
        for name, d in workload_deployments(prod).items():
            env = container_env(d["spec"]["template"]["spec"]["containers"][0], prod, secrets)
            assert env["JDL_KAFKA_SASL_PASSWORD"] == secrets["JDL_KAFKA_SASL_PASSWORD"], name
        [trigger] = by_kind(prod, "ScaledObject")["linkage"]["spec"]["triggers"]
        keda_sasl = {"SCRAM-SHA-512": "scram_sha512", "SCRAM-SHA-256": "scram_sha256", "PLAIN": "plaintext"}
        assert trigger["metadata"]["sasl"] == keda_sasl[config["JDL_KAFKA_SASL_MECHANISM"]]
        assert trigger["metadata"]["tls"] == "enable"
        assert re.fullmatch(r"\d+\.\d+\.\d+", trigger["metadata"]["version"])
        auth = by_kind(prod, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
        template = load_yaml_docs(K8S / "base" / "secret.example.yaml")[0]
        assert refs["username"]["key"] == "JDL_KAFKA_SASL_USERNAME" in template["stringData"]
        assert refs["password"]["key"] == "JDL_KAFKA_SASL_PASSWORD" in template["stringData"]
        # base and dev: plaintext, no authentication, but the version is still pinned
        for objs in (base_objects(), rendered["dev"]):
            [t] = by_kind(objs, "ScaledObject")["linkage"]["spec"]["triggers"]
            assert "authenticationRef" not in t and t["metadata"]["version"] == trigger["metadata"]["version"]

    def test_compose_delivers_alerts_to_an_alertmanager(self):
        services = compose_doc()["services"]
        am = services["alertmanager"]
        assert am["image"].startswith("prom/alertmanager:v")
        assert "../alertmanager:/etc/alertmanager:ro" in am["volumes"]
        config = yaml.safe_load((PROM / "prometheus.yml").read_text())
        [target] = [t for a in config["alerting"]["alertmanagers"] for sc in a["static_configs"]
                    for t in sc["targets"]]
        host, port = target.split(":")
        assert host == "alertmanager" and f"127.0.0.1:{port}:{port}" in am["ports"]
        assert services["prometheus"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"
        routing = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
        receivers = {r["name"] for r in routing["receivers"]}
        assert routing["route"]["receiver"] in receivers
        for sub in routing["route"]["routes"]:
            assert sub["receiver"] in receivers
        # every severity the rules use has a route
        severities = {r["labels"]["severity"] for r in all_rules() if "alert" in r}
        routed = {m.split("=")[1].strip().strip('"') for sub in routing["route"]["routes"]
                  for m in sub["matchers"] if m.startswith("severity")}
        assert severities - routed <= {"warning"}     # warning: the default route

    def test_object_store_image_is_built_from_the_release_that_fixes_cve_2025_62506(self):
        fixed = "RELEASE.2025-10-15T17-29-55Z"
        dockerfile = (DEPLOY / "docker" / "minio.Dockerfile").read_text()
        assert f"ARG MINIO_RELEASE={fixed}" in dockerfile
        assert re.search(r"^FROM \$\{GO_IMAGE\} AS build", dockerfile, re.M)
        services = compose_doc()["services"]
        for name in ("minio", "minio-init"):
            svc = services[name]
            assert svc["image"] == f"jdl-minio:{fixed}", name
            assert svc["build"]["dockerfile"] == "deploy/docker/minio.Dockerfile"
        dev = (K8S / "overlays" / "dev" / "minio.yaml").read_text()
        assert "minio/minio:" not in dev and "minio/mc:" not in dev
        assert dev.count(f"jdl-minio:{fixed}") == 2
        text = (DEPLOY / "README.md").read_text()
        assert "CVE-2025-62506" in text

    def test_disruption_budgets_never_block_a_drain(self, rendered):
        """A budget that allows no disruption for the replicas it selects blocks every drain."""
        for overlay, objs in rendered.items():
            deployments = by_kind(objs, "Deployment")
            for name, pdb in by_kind(objs, "PodDisruptionBudget").items():
                replicas = deployments[name]["spec"].get("replicas", 1)   # KEDA: at least 1
                spec = pdb["spec"]
                allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec["minAvailable"]
                assert allowed >= 1, f"{overlay}: PodDisruptionBudget {name} allows no disruption"
