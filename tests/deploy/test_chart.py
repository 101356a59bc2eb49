"""The Helm chart (deploy/helm/lodestar), offline: it lints strictly, renders for the default values and
for every documented values file (deploy/helm/values/), and every rendered document validates: Kubernetes
objects with `kubernetes-validate`'s bundled schemas in strict mode against the oldest and the newest
Kubernetes version the chart supports, KEDA objects against the CRD schema committed in deploy/helm/schemas.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "lodestar"
VALUES_DIR = ROOT / "deploy" / "helm" / "values"
KEDA_SCHEMAS = ROOT / "deploy" / "helm" / "schemas" / "keda-v2.17.json"
README = ROOT / "deploy" / "README.md"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
"""The chart's `kubeVersion` floor and the newest version kubernetes-validate 1.37 bundles."""

VALUES_FILES = sorted(VALUES_DIR.glob("*.yaml"))
VALUE_SETS = {"default": None, **{path.stem: path for path in VALUES_FILES}}

SECRET_VARIABLES = frozenset(
    {
        "NEO4J_PASSWORD",
        "TEMPORAL_API_KEY",
        "LODESTAR_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "LODESTAR_PAYLOAD_KEY",
        "LODESTAR_PAYLOAD_OLD_KEYS",
        "LODESTAR_ERASURE_SALT",
    }
)
"""Variables that come from the Secret (`secrets.existingSecret`/`secrets.values`), never the ConfigMap."""


def _values(path: Path | None) -> dict[str, Any] | None:
    return yaml.safe_load(path.read_text()) if path is not None else None


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders for `values`, as an install in namespace `lodestar`."""
    manifests = _chart().render(values, name="lodestar", namespace="lodestar", is_install=True)
    documents: list[dict[str, Any]] = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        documents.extend(document for document in yaml.safe_load_all(text) if document)
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in by_kind(documents, kind) if d["metadata"]["name"] == name]
    return found


@cache
def _keda_schemas() -> dict[str, Any]:
    return json.loads(KEDA_SCHEMAS.read_text())


def validate_keda(document: dict[str, Any]) -> None:
    schemas = _keda_schemas()
    schema = {"$defs": schemas["$defs"], **schemas[document["kind"]]}
    jsonschema.Draft202012Validator(schema).validate(document)


def validate(document: dict[str, Any], version: str) -> None:
    if document["apiVersion"].startswith("keda.sh/"):
        validate_keda(document)
    else:
        kubernetes_validate.validate(document, version, strict=True)


# -- lint and validate every rendered document ------------------------------------------------------


def test_the_chart_lints_strictly() -> None:
    for values_path in [None, *VALUES_FILES]:
        for version in KUBERNETES_VERSIONS:
            report = helm.lint(CHART, _values(values_path), strict=True, kube_version=f"v{version}")
            problems = [m for m in report["messages"] if m["severity"] >= 2]
            assert report["errors"] == [] and problems == [], (values_path, version, report)


def test_the_chart_declares_the_oldest_kubernetes_it_is_validated_against() -> None:
    assert _chart().metadata["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"
    assert set(KUBERNETES_VERSIONS) <= set(kubernetes_validate.utils.all_versions())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_document_validates(value_set: str, version: str) -> None:
    documents = render(_values(VALUE_SETS[value_set]))
    assert len(documents) >= 8
    for document in documents:
        validate(document, version)


def test_the_validators_reject_what_a_cluster_would() -> None:
    documents = render(None)
    deployment = one(documents, "Deployment", "lodestar-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)

    scaled = one(documents, "ScaledObject", "lodestar-worker")
    del scaled["spec"]["triggers"][0]["metadata"]
    with pytest.raises(jsonschema.ValidationError, match="metadata"):
        validate_keda(scaled)
    scaled = one(render(None), "ScaledObject", "lodestar-worker")
    scaled["spec"]["triggers"][0]["metadata"]["targetQueueSize"] = 5
    with pytest.raises(jsonschema.ValidationError):
        validate_keda(scaled)


def test_every_documented_values_file_is_documented_and_every_file_documented_exists() -> None:
    readme = README.read_text()
    mentioned = set(re.findall(r"deploy/helm/values/([\w.-]+\.yaml)", readme))
    assert mentioned == {path.name for path in VALUES_FILES}


# -- what the chart wires ----------------------------------------------------------------------------


def _env_keys(documents: list[dict[str, Any]]) -> set[str]:
    keys = set(one(documents, "ConfigMap", "lodestar")["data"])
    for secret in by_kind(documents, "Secret"):
        keys |= set(secret.get("stringData", {}))
    return keys


def test_every_variable_in_the_deploy_readme_is_wired() -> None:
    documented = set(
        re.findall(r"`((?:NEO4J|TEMPORAL|LODESTAR|OTEL)_[A-Z0-9_]*[A-Z0-9])`", README.read_text())
    )
    wired: set[str] = set(SECRET_VARIABLES)
    for value_set in VALUE_SETS.values():
        wired |= _env_keys(render(_values(value_set)))
    missing = {
        name
        for name in documented - wired
        if not (name.startswith("LODESTAR_API_") and name != "LODESTAR_API_KEY")  # api.settings, generic
        and not name.startswith("LODESTAR_CODEC_")  # `lodestar codec-server`, which the chart does not run
    }
    assert missing == set()
    settings = render({"api": {"settings": {"max_depth": 8, "CORS_ORIGINS": "https://a.example"}}})
    data = one(settings, "ConfigMap", "lodestar")["data"]
    assert data["LODESTAR_API_MAX_DEPTH"] == "8" and data["LODESTAR_API_CORS_ORIGINS"] == "https://a.example"


def test_default_values_api_probes_autoscaling_and_disruption_budget() -> None:
    documents = render(None)
    api = one(documents, "Deployment", "lodestar-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert "replicas" not in api["spec"], "the HPA owns the API's replica count"
    hpa = one(documents, "HorizontalPodAutoscaler", "lodestar-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "lodestar-api"
    pdb = one(documents, "PodDisruptionBudget", "lodestar-api")
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    service = one(documents, "Service", "lodestar-api")
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()


def test_default_values_workers_scale_on_the_task_queue_backlog() -> None:
    documents = render(None)
    config = one(documents, "ConfigMap", "lodestar")["data"]
    worker = one(documents, "Deployment", "lodestar-worker")
    assert "replicas" not in worker["spec"], "KEDA owns the worker count"
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["lodestar", "worker"]
    [health] = container["ports"]
    assert str(health["containerPort"]) == config["LODESTAR_WORKER_HEALTH_PORT"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    scaled = one(documents, "ScaledObject", "lodestar-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "lodestar-worker"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["endpoint"] == config["TEMPORAL_ADDRESS"]
    assert trigger["metadata"]["namespace"] == config["TEMPORAL_NAMESPACE"]
    assert trigger["metadata"]["taskQueue"] == config["LODESTAR_TASK_QUEUE"]
    assert "authenticationRef" not in trigger
    job = one(documents, "Job", "lodestar-init")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["lodestar", "init"]
    assert "post-install" in job["metadata"]["annotations"]["helm.sh/hook"]


def test_no_database_is_deployed_by_the_chart() -> None:
    for value_set in VALUE_SETS.values():
        documents = render(_values(value_set))
        assert by_kind(documents, "StatefulSet") == [] and by_kind(documents, "PersistentVolumeClaim") == []
        images = {
            c["image"]
            for d in documents
            if d["kind"] in {"Deployment", "Job"}
            for c in d["spec"]["template"]["spec"]["containers"]
        }
        assert len(images) == 1 and "neo4j" not in next(iter(images))


def test_temporal_cloud_with_mtls_mounts_the_certificate_for_the_app_and_keda() -> None:
    documents = render(_values(VALUES_DIR / "temporal-cloud-mtls.yaml"))
    config = one(documents, "ConfigMap", "lodestar")["data"]
    assert config["TEMPORAL_TLS"] == "true"
    worker = one(documents, "Deployment", "lodestar-worker")["spec"]["template"]["spec"]
    [tls_volume] = [v for v in worker["volumes"] if v["name"] == "temporal-tls"]
    assert tls_volume["secret"]["secretName"] == "lodestar-temporal-tls"
    [mount] = [m for m in worker["containers"][0]["volumeMounts"] if m["name"] == "temporal-tls"]
    assert config["TEMPORAL_TLS_CLIENT_CERT_PATH"] == mount["mountPath"] + "/tls.crt"
    assert config["TEMPORAL_TLS_CLIENT_KEY_PATH"] == mount["mountPath"] + "/tls.key"
    auth = one(documents, "TriggerAuthentication", "lodestar-temporal")
    assert {(r["parameter"], r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]} == {
        ("cert", "lodestar-temporal-tls", "tls.crt"),
        ("key", "lodestar-temporal-tls", "tls.key"),
    }
    [trigger] = one(documents, "ScaledObject", "lodestar-worker")["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": "lodestar-temporal"}
    assert by_kind(documents, "Secret") == [], "the existing Secret is used, not a new one"


def test_temporal_cloud_with_an_api_key_reads_it_from_the_secret() -> None:
    documents = render(_values(VALUES_DIR / "temporal-cloud-api-key.yaml"))
    worker = one(documents, "Deployment", "lodestar-worker")["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "lodestar-secrets"}} in worker["envFrom"]
    auth = one(documents, "TriggerAuthentication", "lodestar-temporal")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "lodestar-secrets", "key": "TEMPORAL_API_KEY"}
    ]
    [trigger] = one(documents, "ScaledObject", "lodestar-worker")["spec"]["triggers"]
    assert trigger["metadata"]["enableTLS"] == "true"


def test_without_keda_the_counts_are_fixed() -> None:
    documents = render(_values(VALUES_DIR / "without-keda.yaml"))
    assert by_kind(documents, "ScaledObject") == [] and by_kind(documents, "HorizontalPodAutoscaler") == []
    assert one(documents, "Deployment", "lodestar-worker")["spec"]["replicas"] == 3
    assert one(documents, "Deployment", "lodestar-api")["spec"]["replicas"] == 2
    secret = one(documents, "Secret", "lodestar-secrets")
    assert secret["stringData"] == {"NEO4J_PASSWORD": "change-me"}


def test_missing_required_values_fail_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match=r"temporal\.address is required"):
        render({"temporal": {"address": ""}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"worker": {"healthPort": "http"}}, "healthPort"),
        ({"graph": {"uri": "http://graph:7474"}}, "uri"),
        ({"keda": {"queueTypes": "workflows"}}, "queueTypes"),
        ({"api": {"mode": "debug"}}, "mode"),
    ],
)
def test_the_values_schema_names_a_bad_value(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)
