"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas (offline,
from `kubernetes-validate`), the kustomize overlay points at real resources, and every
bundled Keel config passes the same validation `keel serve` applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from keel.server import load_settings

DEPLOY = Path(__file__).parents[1] / "deploy"
BASE = DEPLOY / "k8s" / "base"
MANIFESTS = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes_resources(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, "1.37.0", strict=True)


def test_the_base_has_what_a_production_deployment_needs() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for p in MANIFESTS for d in _documents(p)}
    for name in ("keel-api", "keel-worker"):
        assert {("Deployment", name), ("HorizontalPodAutoscaler", name)} <= kinds
        assert ("PodDisruptionBudget", name) in kinds
    api = next(d for d in _documents(BASE / "api.yaml") if d["kind"] == "Deployment")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    secret = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert secret["name"] == "keel-secrets"


def test_kustomizations_name_files_and_resources_that_exist() -> None:
    base = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert sorted(base["resources"]) == sorted(p.name for p in MANIFESTS)
    overlay_dir = DEPLOY / "k8s" / "overlays" / "production"
    overlay = yaml.safe_load((overlay_dir / "kustomization.yaml").read_text())
    assert all((overlay_dir / r).resolve().is_dir() for r in overlay["resources"])
    names = {d["metadata"]["name"] for p in MANIFESTS for d in _documents(p)}
    for patch in overlay["patches"]:
        target = yaml.safe_load((overlay_dir / patch["path"]).read_text())
        assert target["metadata"]["name"] in names


def test_bundled_configs_pass_keel_validation(tmp_path: Path) -> None:
    load_settings(DEPLOY / "keel.toml")
    configmap = _documents(BASE / "configmap.yaml")[0]
    inline = tmp_path / "keel.toml"
    inline.write_text(configmap["data"]["keel.toml"])
    assert load_settings(inline).temporal is not None


def test_the_compose_file_runs_apis_and_workers_from_the_dockerfile() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "temporal"} <= services.keys()
    assert services["api"]["build"]["dockerfile"] == "deploy/Dockerfile"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2  # multi-stage
    assert "USER 10001" in dockerfile  # non-root
