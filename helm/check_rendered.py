"""Cross-resource checks of `helm template` output that no schema validator makes.

Usage: python helm/check_rendered.py RENDERED.yaml...   (run by scripts/check_chart.sh with the project's
Python, so the checks can compare the chart with the worker's own settings and routes).

For each rendered file: selectors match pod labels; probes hit the worker's real endpoints on the port
it listens on; every MODSTREAM_* variable names a real setting and the whole environment parses into
Settings; replicas and autoscaling stay at or below the partition count; the grace period outlasts
the drain timeout; KEDA / ServiceMonitor resources (CRDs the schema validator cannot know) have the
fields their operators need and point at this release; the Grafana ConfigMap holds the dashboard file.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.manifest import load_manifest  # noqa: E402
from pipelines.policy_file import parse_policy  # noqa: E402
from workers.settings import DEFAULT_MODEL_DIR, Settings  # noqa: E402

DASHBOARD_FILE = REPO / "helm" / "modstream" / "dashboards" / "modstream.json"
WORKER_ROUTES = {"/healthz", "/readyz", "/metrics", "/"}
Resource = dict[str, Any]


class ChartProblem(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ChartProblem(message)


def load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(resources: list[Resource], kind: str, name_suffix: str = "") -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"].endswith(name_suffix)]
    expect(len(found) == 1, f"expected one {kind} named *{name_suffix}, found {len(found)}")
    return found[0]


def all_of(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def settings_environment(resources: list[Resource], deployment: Resource) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    config_maps = {r["metadata"]["name"]: r for r in all_of(resources, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            expect(name in config_maps, f"envFrom names ConfigMap {name}, which the chart does not render")
            env.update(config_maps[name]["data"])
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value", "secret-from-" + str(variable.get("valueFrom")))
    return env


def check_settings(env: dict[str, str]) -> Settings:
    groups = Settings.model_fields
    for name in env:
        expect(name.startswith("MODSTREAM_"), f"{name} is not a MODSTREAM_* variable")
        group, _, field = name.removeprefix("MODSTREAM_").lower().partition("__")
        expect(group in groups, f"{name}: Settings has no field {group!r}")
        if field:
            annotation = groups[group].annotation
            fields = getattr(annotation, "model_fields", {})
            expect(field in fields, f"{name}: settings group {group!r} has no field {field!r}")
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return Settings()
    except Exception as error:  # pydantic's ValidationError names the field and the value
        raise ChartProblem(f"the ConfigMap environment does not parse into Settings: {error}") from error
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_deployment(resources: list[Resource]) -> tuple[Resource, Settings]:
    deployment = one(resources, "Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    expect(
        selects(deployment["spec"]["selector"]["matchLabels"], labels), "Deployment selector misses its pods"
    )
    container = pod["spec"]["containers"][0]
    settings = check_settings(settings_environment(resources, deployment))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expect(ports.get("http") == settings.web.port, f"container port {ports} is not MODSTREAM_WEB__PORT")
    expect(settings.web.host == "0.0.0.0", "the worker must listen on 0.0.0.0 for probes and scrapes")
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        expect(get["path"] == path and get["path"] in WORKER_ROUTES, f"{probe} must GET {path}")
        expect(
            get["port"] in ports or get["port"] == settings.web.port, f"{probe} port {get['port']} unknown"
        )
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    expect(
        grace > settings.shutdown.drain_timeout_s,
        "terminationGracePeriodSeconds must exceed the drain timeout",
    )
    replicas = deployment["spec"].get("replicas")
    if replicas is not None:
        expect(
            replicas <= settings.topics.partitions,
            f"{replicas} replicas > {settings.topics.partitions} partitions",
        )
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    config_maps = {r["metadata"]["name"] for r in all_of(resources, "ConfigMap")}
    for mount in container.get("volumeMounts", []):
        expect(mount["name"] in volumes, f"volumeMount {mount['name']} has no volume")
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            expect(
                volume["configMap"]["name"] in config_maps,
                f"volume {mount['name']} names a missing ConfigMap",
            )
    if settings.policy.file is not None:
        mounted = [
            m for m in container["volumeMounts"] if str(settings.policy.file).startswith(m["mountPath"])
        ]
        expect(bool(mounted), f"MODSTREAM_POLICY__FILE {settings.policy.file} is not on a mounted volume")
        policy = one(resources, "ConfigMap", "-policy")["data"][settings.policy.file.name]
        # ConfigError names what is wrong; custom categories are checked against the shipped model's.
        parsed = parse_policy(policy, source="the rendered policy ConfigMap")
        parsed.check_against(load_manifest(DEFAULT_MODEL_DIR).moderation_labels, "the policy ConfigMap")
    if settings.kafka.ssl_cafile is not None:
        expect(
            any(str(settings.kafka.ssl_cafile).startswith(m["mountPath"]) for m in container["volumeMounts"]),
            "MODSTREAM_KAFKA__SSL_CAFILE is not on a mounted volume",
        )
    limits = container.get("resources", {}).get("limits", {})
    if any(key.endswith("/gpu") for key in limits):
        expect(
            bool(pod["spec"].get("tolerations")),
            "a GPU request without tolerations will not schedule on GPU nodes",
        )
    return deployment, settings


def check_service_and_monitor(resources: list[Resource], deployment: Resource) -> None:
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(resources, "Service")
    expect(selects(service["spec"]["selector"], pod_labels), "Service selector misses the worker pods")
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for monitor in all_of(resources, "ServiceMonitor"):
        expect(monitor["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
        expect(
            selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]),
            "ServiceMonitor selector misses the Service",
        )
        for endpoint in monitor["spec"]["endpoints"]:
            expect(
                endpoint["port"] in port_names, f"ServiceMonitor port {endpoint['port']} not on the Service"
            )
            expect(endpoint.get("path") == "/metrics", "ServiceMonitor must scrape /metrics")
    for budget in all_of(resources, "PodDisruptionBudget"):
        expect(selects(budget["spec"]["selector"]["matchLabels"], pod_labels), "PDB selector misses the pods")


def check_autoscaling(resources: list[Resource], deployment: Resource, settings: Settings) -> None:
    name = deployment["metadata"]["name"]
    scalers = all_of(resources, "ScaledObject") + all_of(resources, "HorizontalPodAutoscaler")
    expect(len(scalers) <= 1, "render a ScaledObject or an HPA, never both")
    if scalers:
        expect("replicas" not in deployment["spec"], "an autoscaled Deployment must not pin spec.replicas")
    for scaled in all_of(resources, "ScaledObject"):
        spec = scaled["spec"]
        expect(scaled["apiVersion"] == "keda.sh/v1alpha1", "ScaledObject apiVersion")
        expect(spec["scaleTargetRef"]["name"] == name, "ScaledObject targets another Deployment")
        expect(
            1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= settings.topics.partitions,
            "ScaledObject replica range must stay within 1..partitions",
        )
        topics = set()
        for trigger in spec["triggers"]:
            metadata = trigger["metadata"]
            expect(trigger["type"] in ("kafka", "prometheus"), f"unexpected trigger {trigger['type']}")
            expect(
                all(isinstance(v, str) for v in metadata.values()), "KEDA trigger metadata values are strings"
            )
            if trigger["type"] == "kafka":
                expect(
                    metadata["consumerGroup"] == settings.kafka.group_id,
                    "KEDA watches another consumer group",
                )
                expect(
                    metadata["bootstrapServers"] == settings.kafka.bootstrap_servers, "KEDA bootstrap differs"
                )
                expect(int(metadata["lagThreshold"]) > 0, "lagThreshold must be positive")
                topics.add(metadata["topic"])
            else:
                expect(
                    "modstream_consumer_lag" in metadata["query"], "the prometheus trigger must query the lag"
                )
                expect(metadata["serverAddress"].startswith("http"), "prometheus serverAddress must be a URL")
        if any(t["type"] == "kafka" for t in spec["triggers"]):
            expect(
                topics == set(settings.topics.inputs()),
                f"KEDA kafka triggers cover {topics}, not both inputs",
            )
    for hpa in all_of(resources, "HorizontalPodAutoscaler"):
        spec = hpa["spec"]
        expect(spec["scaleTargetRef"]["name"] == name, "HPA targets another Deployment")
        expect(
            1 <= spec["minReplicas"] <= spec["maxReplicas"] <= settings.topics.partitions,
            "HPA replica range must stay within 1..partitions",
        )


def check_grafana(resources: list[Resource]) -> None:
    for config_map in all_of(resources, "ConfigMap"):
        if config_map["metadata"]["labels"].get("grafana_dashboard") != "1":
            continue
        rendered = json.loads(config_map["data"]["modstream.json"])
        expect(
            rendered == json.loads(DASHBOARD_FILE.read_text()),
            "the dashboard ConfigMap differs from the file",
        )
        expect(
            all("expr" in t for p in rendered["panels"] for t in p.get("targets", [])), "a target lacks expr"
        )


def check_file(path: Path) -> Iterator[str]:
    resources = load(path)
    deployment, settings = check_deployment(resources)
    check_service_and_monitor(resources, deployment)
    check_autoscaling(resources, deployment, settings)
    check_grafana(resources)
    kinds = sorted({r["kind"] for r in resources})
    yield f"{path.name}: {len(resources)} resources ({', '.join(kinds)}) consistent"


def main(paths: list[str]) -> int:
    failures = 0
    for name in paths:
        try:
            for line in check_file(Path(name)):
                print(line)
        except (ChartProblem, KeyError, TypeError) as problem:
            failures += 1
            print(f"{name}: {type(problem).__name__}: {problem}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
