"""The TF Serving manifests as a cluster would get them: every overlay rendered by `kubectl kustomize`, strict schema
validation and checkov's Kubernetes policies (side venv from `make policy-env`), probes and flags that survive the
first load, storage that binds, and paths that agree with where the pipeline pushes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from helpers.serving_flags import expected_server_flags
from helpers.tiny_model import save_tiny_ranker
from tensorflow_serving.config import model_server_config_pb2

from config.settings import PipelineConfig
from serving import export as serving_export
from serving import served
from serving import server as model_server

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "kubeflow" / "serving"
OVERLAYS = ("nfs", "gcsfuse")
POLICY_BIN = ROOT / ".venv-policy" / "bin"
MODEL = PipelineConfig().model_name
CPU_LIMIT = 2


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for overlay in OVERLAYS:
        text = subprocess.run(
            [kubectl, "kustomize", str(SERVING / "overlays" / overlay)], check=True, capture_output=True, text=True
        ).stdout
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(text)
    return files


def docs(path: Path) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(path.read_text()) if d}


def deployment(path: Path) -> tuple[dict, dict, dict]:
    dep = docs(path)[("Deployment", "ranker-serving")]
    pod = dep["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return dep, pod, container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_flags_survive_the_first_load(rendered, overlay):
    _, _, container = deployment(rendered[overlay])
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    # TF Serving opens its ports only after the first load: liveness may act only once the startupProbe passed.
    budget = startup["periodSeconds"] * startup["failureThreshold"] + startup.get("initialDelaySeconds", 0)
    assert budget >= 600 and startup["tcpSocket"]["port"] == model_server.GRPC_PORT
    assert liveness.get("initialDelaySeconds", 0) == 0 and liveness["tcpSocket"]["port"] == model_server.GRPC_PORT
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness == {"path": f"/v1/models/{MODEL}/metadata", "port": model_server.REST_PORT}
    config_file = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--model_config_file="))
    assert container["args"] == expected_server_flags(config_file, cpus=CPU_LIMIT)  # pinned literals
    assert float(container["resources"]["limits"]["cpu"]) == CPU_LIMIT
    assert container["image"] == model_server.SERVING_IMAGE
    lock = (ROOT / "requirements.lock").read_text()
    assert f"tensorflow-serving-api=={container['image'].rsplit(':', 1)[1]}" in lock


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down_as_the_policies_ask(rendered, overlay):
    """checkov's failures of the old manifests, each checked here too (runs without the side venv)."""
    everything = docs(rendered[overlay])
    dep, pod, container = deployment(rendered[overlay])
    for kind, name in everything:
        if kind not in ("Namespace", "PersistentVolume", "ConfigMap"):
            assert everything[(kind, name)]["metadata"]["namespace"] == "ranker-serving", (kind, name)
    assert pod["automountServiceAccountToken"] is False
    assert everything[("ServiceAccount", pod["serviceAccountName"])]["automountServiceAccountToken"] is False
    for context in (pod["securityContext"], container["securityContext"]):
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000
    assert container["imagePullPolicy"] == "Always"
    skips = " ".join(v for k, v in dep["metadata"].get("annotations", {}).items() if k.startswith("checkov.io/skip"))
    assert "@sha256:" in container["image"] or "CKV_K8S_43=" in skips, "image neither pinned by digest nor skipped"
    [policy] = [d for (kind, _), d in everything.items() if kind == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == {8500, 8501}


def test_nfs_overlay_binds_its_claim_to_its_volume(rendered):
    everything = docs(rendered["nfs"])
    pv = everything[("PersistentVolume", "ranker-serving-root")]
    pvc = everything[("PersistentVolumeClaim", "ranker-serving-root")]
    params = yaml.safe_load((SERVING / "overlays" / "nfs" / "storage-params.yaml").read_text())["data"]
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == params["storageClassName"]
    assert pv["spec"]["nfs"] == {"server": params["nfsServer"], "path": params["nfsPath"], "readOnly": True}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"] and "namespace" not in pv["metadata"]
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert pv["spec"]["capacity"]["storage"] == pvc["spec"]["resources"]["requests"]["storage"]
    assert ("ConfigMap", "ranker-storage-params") not in everything  # local-config: parameters only
    _, pod, container = deployment(rendered["nfs"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_map = everything[("ConfigMap", volumes["config"]["configMap"]["name"])]
    assert f"--model_config_file={mounts['config']}/models.config" in container["args"]
    config = text_format.Parse(config_map["data"]["models.config"], model_server_config_pb2.ModelServerConfig())
    [entry] = config.model_config_list.config
    assert (entry.name, entry.base_path) == (MODEL, f"{mounts['models']}/{MODEL}")


def test_gcsfuse_overlay_shows_the_pushed_root_at_models(rendered, tmp_path):
    """Push into a stand-in bucket at gs://BUCKET/<only-dir> the way the pipeline does (deploy.base_path_root =
    /models), then look at it through the overlay's mount: models.config where --model_config_file says, its
    base path /models/ranker holding the version it pins."""
    everything = docs(rendered["gcsfuse"])
    dep, pod, container = deployment(rendered["gcsfuse"])
    assert dep["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
    params = yaml.safe_load((SERVING / "overlays" / "gcsfuse" / "gcs-params.yaml").read_text())["data"]
    account = everything[("ServiceAccount", pod["serviceAccountName"])]
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == params["googleServiceAccount"]
    volume = {v["name"]: v for v in pod["volumes"]}["models"]["csi"]
    assert volume["driver"] == "gcsfuse.csi.storage.gke.io" and volume["readOnly"] is True
    attributes = volume["volumeAttributes"]
    options = dict(o.split("=", 1) if "=" in o else (o, "") for o in attributes["mountOptions"].split(","))
    assert attributes["bucketName"] == params["bucket"] and options["only-dir"] == params["onlyDir"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["models"]

    bucket = tmp_path / params["bucket"]
    serving_root = bucket / options["only-dir"]  # --serving-root gs://BUCKET/<only-dir>
    config = PipelineConfig.from_json(json.dumps({"deploy": {"base_path_root": mount}}))
    model = save_tiny_ranker(str(tmp_path / "model" / "Format-Serving"))
    pushed = serving_export.push_version(model, str(serving_root), config.model_name, day=0)
    serving_export.write_models_config(str(serving_root), config.deploy.base_path_root)

    def in_pod(path: str) -> Path:  # the pod's view: only-dir mounted at `mount`
        assert path.startswith(mount + "/"), path
        return serving_root / os.path.relpath(path, mount)

    config_file = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--model_config_file="))
    server_config = serving_export.read_models_config(str(in_pod(config_file)))
    [entry] = server_config.model_config_list.config
    assert entry.base_path == f"/models/{MODEL}" == f"{mount}/{MODEL}"
    assert list(entry.model_version_policy.specific.versions) == [pushed.version]
    assert (in_pod(entry.base_path) / str(pushed.version) / "saved_model.pb").is_file()
    assert served.served_version(str(serving_root), MODEL).version == pushed.version


def _policy_tool(name: str) -> str:
    tool = POLICY_BIN / name
    if not tool.exists():
        pytest.skip(f"{tool} missing: run `make policy-env` (make test does)")
    return str(tool)


def test_manifests_pass_strict_schema_validation(rendered):
    result = subprocess.run(
        [_policy_tool("kubernetes-validate"), "--strict", *map(str, rendered.values())], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") >= 13


def test_checkov_kubernetes_policies_pass_with_stated_skips_only(rendered, tmp_path):
    directory = tmp_path / "manifests"
    directory.mkdir()
    for path in rendered.values():
        shutil.copy(path, directory)
    result = subprocess.run(
        [_policy_tool("checkov"), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 150
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} <= {"CKV_K8S_43"}
    assert all(len(c["check_result"].get("suppress_comment", "")) > 20 for c in skipped)
