"""Offline checks of deploy/ (run by deploy/check, in the venv it prepares).

Owns the validation of the cluster manifests and the compose file:
- every YAML file under deploy/k8s parses, and is listed by a kustomization (no orphan
  manifest that nobody applies); every path a kustomization names exists;
- every Kubernetes object, as written and as kustomize renders each overlay (when
  `kubectl kustomize` is available), validates strictly against the Kubernetes JSON
  schemas of the `kubernetes-validate` package, at the oldest and newest versions
  below; custom resources against the schemas checked in under deploy/schemas; an
  object of any other kind fails (never skipped silently);
- the manifests agree with the code and with each other: a Deployment per service of
  crates/platform/src/service/kind.rs on its default port with the probes, limits and
  security settings every service must have, a Service and a PodDisruptionBudget for
  each, the autoscalers, every ConfigMap or Secret key a pod reads exists, JetStream
  with `sync_interval: always`;
- deploy/compose.yaml parses and names every service, each with a healthcheck and
  dependencies on services that exist.

Prints one line per failure and exits 1 if there was any.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any, Iterable

import jsonschema
import yaml
import kubernetes_validate.utils as kv

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
KIND_RS = ROOT / "crates" / "platform" / "src" / "service" / "kind.rs"

# The oldest Kubernetes the manifests support (the preStop `sleep` action is there from
# 1.30) and the newest the schema package knows.
KUBERNETES_VERSIONS = ["1.30.0", kv.latest_version()]

# Services scaled by a HorizontalPodAutoscaler (the rest run two replicas).
AUTOSCALED = {"gateway", "catalog", "ordering"}

errors: list[str] = []


def fail(message: str) -> None:
    errors.append(message)
    print(f"FAIL {message}")


def rel(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT))


def load_docs(path: pathlib.Path) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file (a parse error is a failure)."""
    try:
        with path.open() as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{rel(path)}: not valid YAML: {e}")
        return []


# --- the services, from the code ------------------------------------------------------


def services_from_code() -> dict[str, int]:
    """Each service's name and default port, read from ServiceKind."""
    text = KIND_RS.read_text()
    names = dict(re.findall(r'ServiceKind::(\w+) => "([a-z]+)"', text))
    ports = dict(re.findall(r"ServiceKind::(\w+) => (\d+),", text))
    services = {names[v]: int(ports[v]) for v in names if v in ports}
    if len(services) < 2 or len(services) != len(names):
        fail(f"{rel(KIND_RS)}: could not read the services and their default ports")
    return services


# --- kustomizations ---------------------------------------------------------------------

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: pathlib.Path) -> pathlib.Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def referenced_paths(kustomization: dict[str, Any]) -> Iterable[str]:
    """Every file or directory a kustomization names."""
    for key in ("resources", "components", "patchesStrategicMerge", "crds"):
        for entry in kustomization.get(key) or []:
            yield entry
    for key in ("patches", "patchesJson6902"):
        for patch in kustomization.get(key) or []:
            if isinstance(patch, dict) and "path" in patch:
                yield patch["path"]
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in kustomization.get(key) or []:
            for entry in (generator.get("files") or []) + (generator.get("envs") or []):
                yield entry.split("=", 1)[-1]


def check_kustomizations() -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """Checks every kustomization's references and that no manifest is orphaned.

    Returns the directories of the kustomizations (kind Kustomization, which render on
    their own) and the resource files they list (whole objects, validated as written).
    """
    yaml_files = sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))
    kustomizations = [p for p in yaml_files if p.name in KUSTOMIZATION_NAMES]
    listed: set[pathlib.Path] = set()
    resource_files: list[pathlib.Path] = []
    renderable: list[pathlib.Path] = []
    for path in kustomizations:
        docs = load_docs(path)
        if len(docs) != 1 or not isinstance(docs[0], dict):
            fail(f"{rel(path)}: a kustomization must be one YAML mapping")
            continue
        kustomization = docs[0]
        if kustomization.get("kind", "Kustomization") == "Kustomization":
            renderable.append(path.parent)
        resources = set(kustomization.get("resources") or [])
        for entry in referenced_paths(kustomization):
            if "://" in entry:
                fail(f"{rel(path)}: remote reference {entry}: every manifest must be in the repository")
                continue
            target = (path.parent / entry).resolve()
            if target.is_dir():
                if kustomization_file(target) is None:
                    fail(f"{rel(path)}: {entry} is a directory without a kustomization")
            elif target.is_file():
                listed.add(target)
                if entry in resources:
                    resource_files.append(target)
            else:
                fail(f"{rel(path)}: names {entry}, which does not exist")
    for path in yaml_files:
        if path.name not in KUSTOMIZATION_NAMES and path.resolve() not in listed:
            fail(f"{rel(path)}: orphan manifest: no kustomization lists it")
        else:
            load_docs(path)  # every YAML file must at least parse
    return renderable, resource_files


def render(directory: pathlib.Path) -> list[dict[str, Any]] | None:
    """The objects kustomize renders for `directory`; None without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        fail(f"{rel(directory)}: kustomize cannot render it: {result.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


# --- schemas ------------------------------------------------------------------------------


def custom_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The checked-in schemas of custom resources, by (apiVersion, kind)."""
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        props = schema.get("properties", {})
        key = (props.get("apiVersion", {}).get("const"), props.get("kind", {}).get("const"))
        if None in key:
            fail(f"{rel(path)}: a custom resource schema must fix apiVersion and kind with const")
            continue
        jsonschema.Draft202012Validator.check_schema(schema)
        schemas[key] = schema
    return schemas


def validate_object(obj: Any, where: str, crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        fail(f"{where}: not a Kubernetes object (no apiVersion and kind)")
        return
    name = f"{obj['kind']}/{(obj.get('metadata') or {}).get('name', '?')}"
    key = (obj["apiVersion"], obj["kind"])
    if key in crds:
        validator = jsonschema.Draft202012Validator(crds[key])
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.path)
            fail(f"{where}: {name}: {path}: {error.message}")
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            fail(f"{where}: {name} (Kubernetes {e.version}): {path}: {e.message}")
            return
        except kv.SchemaNotFoundError:
            fail(
                f"{where}: {name}: no schema for {obj['apiVersion']} {obj['kind']} in "
                f"Kubernetes {version} nor in deploy/schemas (add one there for a custom resource)"
            )
            return


# --- what the platform needs of its manifests --------------------------------------------


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = (selector or {}).get("matchLabels") or selector or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def probe_path(container: dict[str, Any], probe: str) -> str | None:
    return ((container.get(probe) or {}).get("httpGet") or {}).get("path")


def check_platform(objects: list[dict[str, Any]], where: str, services: dict[str, int]) -> None:
    deployments = by_kind(objects, "Deployment")
    kube_services = by_kind(objects, "Service")
    pdbs = list(by_kind(objects, "PodDisruptionBudget").values())
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    config_maps = by_kind(objects, "ConfigMap")
    secrets = by_kind(objects, "Secret")

    for name, port in services.items():
        deployment = deployments.get(name)
        if deployment is None:
            fail(f"{where}: no Deployment for the service {name}")
            continue
        pod = deployment["spec"]["template"]
        labels = pod["metadata"].get("labels") or {}
        spec = pod["spec"]
        containers = spec.get("containers") or []
        if len(containers) != 1:
            fail(f"{where}: Deployment/{name}: expected one container")
            continue
        c = containers[0]
        args = c.get("args") or []
        if args[:2] != ["--config", "/etc/viscount/viscount.toml"] or args[2:4] != ["serve", name]:
            fail(f"{where}: Deployment/{name}: args must be --config /etc/viscount/viscount.toml serve {name} ...")
        if f"0.0.0.0:{port}" not in args:
            fail(f"{where}: Deployment/{name}: must listen on 0.0.0.0:{port}, its default port")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if ports.get("http") != port:
            fail(f"{where}: Deployment/{name}: container port `http` must be {port}")
        for probe, path in (
            ("readinessProbe", "/health/ready"),
            ("livenessProbe", "/health/live"),
            ("startupProbe", "/health/live"),
        ):
            if probe_path(c, probe) != path:
                fail(f"{where}: Deployment/{name}: {probe} must GET {path}")
        resources = c.get("resources") or {}
        for bound in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(bound) or {}):
                fail(f"{where}: Deployment/{name}: resources.{bound} must set cpu and memory")
        pod_security = spec.get("securityContext") or {}
        security = c.get("securityContext") or {}
        if not pod_security.get("runAsNonRoot"):
            fail(f"{where}: Deployment/{name}: securityContext.runAsNonRoot must be true")
        if not security.get("readOnlyRootFilesystem"):
            fail(f"{where}: Deployment/{name}: readOnlyRootFilesystem must be true")
        mounts = {m.get("mountPath") for m in c.get("volumeMounts") or []}
        if "/tmp" not in mounts:
            fail(f"{where}: Deployment/{name}: needs a writable /tmp (emptyDir)")
        if spec.get("enableServiceLinks") is not False:
            fail(f"{where}: Deployment/{name}: enableServiceLinks must be false (service links add VISCOUNT_* variables)")
        env = {e["name"]: e for e in c.get("env") or []}
        advertise = (env.get("VISCOUNT_ADVERTISE_URL") or {}).get("value", "")
        pod_ip = (((env.get("POD_IP") or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if pod_ip != "status.podIP" or advertise != f"http://$(POD_IP):{port}":
            fail(f"{where}: Deployment/{name}: VISCOUNT_ADVERTISE_URL must be http://$(POD_IP):{port} with POD_IP from status.podIP")
        for required in ("VISCOUNT_DISCOVERY__SERVICE_TOKEN", "VISCOUNT_NATS_URL"):
            if required not in env:
                fail(f"{where}: Deployment/{name}: sets no {required}")
        if name != "gateway":
            url = (env.get("VISCOUNT_DATABASE_URL") or {}).get("value", "")
            if f"/viscount_{name}?" not in url:
                fail(f"{where}: Deployment/{name}: VISCOUNT_DATABASE_URL must name the database viscount_{name}")
        if name == "identity":
            for required in ("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", "VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD"):
                if required not in env:
                    fail(f"{where}: Deployment/identity: sets no {required}")
        check_references(c, spec, config_maps, secrets, f"{where}: Deployment/{name}")

        service = kube_services.get(name)
        if service is None or not selects(service["spec"].get("selector"), labels):
            fail(f"{where}: no Service {name} selecting the Deployment's pods")
        elif [p.get("port") for p in service["spec"].get("ports") or []] != [port]:
            fail(f"{where}: Service/{name}: must expose port {port}")
        if not any(selects(p["spec"].get("selector"), labels) for p in pdbs):
            fail(f"{where}: no PodDisruptionBudget selecting the pods of {name}")
        hpa = hpas.get(name)
        if name in AUTOSCALED:
            target = (hpa or {}).get("spec", {}).get("scaleTargetRef", {})
            if hpa is None or target.get("kind") != "Deployment" or target.get("name") != name:
                fail(f"{where}: no HorizontalPodAutoscaler for Deployment/{name}")
            if "replicas" in deployment["spec"]:
                fail(f"{where}: Deployment/{name}: replicas must be left to its autoscaler")
        elif deployment["spec"].get("replicas", 1) < 2:
            fail(f"{where}: Deployment/{name}: needs at least 2 replicas (its PodDisruptionBudget allows one down)")

    nats = by_kind(objects, "StatefulSet").get("nats")
    if nats is None or nats["spec"].get("replicas") != 3:
        fail(f"{where}: NATS must be a StatefulSet `nats` of 3 replicas")
    nats_config = (config_maps.get("nats-config") or {}).get("data", {}).get("nats.conf", "")
    if not re.search(r"^\s*sync_interval:\s*always\s*$", nats_config, re.M):
        fail(f"{where}: ConfigMap/nats-config: JetStream must have `sync_interval: always`")
    toml = (config_maps.get("viscount-config") or {}).get("data", {}).get("viscount.toml")
    if toml is None:
        fail(f"{where}: no ConfigMap viscount-config with viscount.toml")
    elif not re.search(r"^\s*issuer\s*=", toml, re.M):
        fail(f"{where}: viscount.toml must set the OIDC issuer ([identity] issuer) to the gateway's public URL")


def check_references(container, pod_spec, config_maps, secrets, where) -> None:
    """Every ConfigMap or Secret key the pod reads exists (a typo fails the pod's start)."""
    for e in container.get("env") or []:
        source = e.get("valueFrom") or {}
        for ref_kind, objects in (("configMapKeyRef", config_maps), ("secretKeyRef", secrets)):
            ref = source.get(ref_kind)
            if not ref:
                continue
            obj = objects.get(ref.get("name"))
            keys = set(((obj or {}).get("data") or {})) | set(((obj or {}).get("stringData") or {}))
            if obj is None or ref.get("key") not in keys:
                fail(f"{where}: env {e['name']} reads {ref.get('name')}/{ref.get('key')}, which does not exist")
    for volume in pod_spec.get("volumes") or []:
        config_map = (volume.get("configMap") or {}).get("name")
        if config_map and config_map not in config_maps:
            fail(f"{where}: volume {volume['name']} mounts ConfigMap {config_map}, which does not exist")


# --- compose ------------------------------------------------------------------------------


def check_compose(services: dict[str, int]) -> None:
    path = DEPLOY / "compose.yaml"
    docs = load_docs(path)
    if len(docs) != 1:
        fail(f"{rel(path)}: expected one YAML document")
        return
    compose_services = docs[0].get("services") or {}
    for required in ["postgres", "nats", "redis", *services]:
        if required not in compose_services:
            fail(f"{rel(path)}: no service {required}")
    for name, service in compose_services.items():
        if "healthcheck" not in service:
            fail(f"{rel(path)}: {name} has no healthcheck")
        for dependency, condition in (service.get("depends_on") or {}).items():
            if dependency not in compose_services:
                fail(f"{rel(path)}: {name} depends on {dependency}, which is not a service")
            if (condition or {}).get("condition") not in (
                "service_healthy",
                "service_started",
                "service_completed_successfully",
            ):
                fail(f"{rel(path)}: {name} depends on {dependency} without a valid condition")
    for name, port in services.items():
        command = (compose_services.get(name) or {}).get("command") or []
        if command[2:4] != ["serve", name] or f"0.0.0.0:{port}" not in command:
            fail(f"{rel(path)}: {name} must run `serve {name} --listen 0.0.0.0:{port}`")
        if name != "gateway":
            env = (compose_services.get(name) or {}).get("environment") or {}
            if f"/viscount_{name}" not in str(env.get("VISCOUNT_DATABASE_URL", "")):
                fail(f"{rel(path)}: {name}: VISCOUNT_DATABASE_URL must name the database viscount_{name}")
    gateway_ports = [str(p) for p in (compose_services.get("gateway") or {}).get("ports") or []]
    if not any(p.endswith(":8080") for p in gateway_ports):
        fail(f"{rel(path)}: the gateway must be published on 8080")
    nats_command = (compose_services.get("nats") or {}).get("command") or []
    if not {"-js", "--jetstream"} & set(nats_command):
        fail(f"{rel(path)}: nats must run with JetStream (-js)")
    nats_conf = (DEPLOY / "compose" / "nats.conf").read_text()
    if not re.search(r"^\s*sync_interval:\s*always\s*$", nats_conf, re.M):
        fail("deploy/compose/nats.conf: JetStream must have `sync_interval: always`")


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    services = services_from_code()
    crds = custom_schemas()
    renderable, resource_files = check_kustomizations()

    checked = 0
    for path in resource_files:
        for index, obj in enumerate(load_docs(path)):
            validate_object(obj, f"{rel(path)}[{index}]", crds)
            checked += 1
    print(f"ok   {checked} objects in {len(resource_files)} files validated as written "
          f"(Kubernetes {', '.join(v.rsplit('.', 1)[0] for v in KUBERNETES_VERSIONS)}; "
          f"{len(crds)} custom resource schema(s) from deploy/schemas)")

    base = K8S / "base"
    base_objects: list[dict[str, Any]] | None = None
    for directory in renderable:
        objects = render(directory)
        if objects is None:
            print("skip kustomize rendering: no kubectl on PATH (overlays and patches not "
                  "rendered; the files above were validated as written)")
            break
        for index, obj in enumerate(objects):
            validate_object(obj, f"{rel(directory)} (rendered)[{index}]", crds)
        print(f"ok   {rel(directory)}: {len(objects)} rendered objects validated")
        if directory == base:
            base_objects = objects
        elif objects:
            check_platform(objects, f"{rel(directory)} (rendered)", services)
    if base_objects is None:
        base_objects = [o for p in resource_files if base in p.parents for o in load_docs(p)]
    check_platform(base_objects, rel(base), services)
    check_compose(services)

    if errors:
        print(f"deploy/validate: {len(errors)} failure(s)")
        return 1
    print(f"ok   manifests agree with the {len(services)} services of {rel(KIND_RS)}; compose checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
