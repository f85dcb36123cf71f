"""Security rules: logs are untrusted (never evaluated or unpickled, bounded, never turned into paths), the TF
Serving manifests run locked down, and no credentials live in the repository, the image or the manifests."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from config.settings import IngestConfig, tiny_preset
from ingest.layout import day_dir, shard_path
from ingest.run import run_ingest
from logformat.parser import parse_line
from world.simulator import World

REPO = Path(__file__).resolve().parent.parent
GOOD = next(World(tiny_preset().world).generate_shard(0, 0))
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


# -- logs are data, never code ------------------------------------------------------------------------------------
# That the code reading logs never evaluates or unpickles is ruff's job (`make lint`: the S rules, and the banned-api
# list of pyproject.toml for logformat/, ingest/ and components/log_ingest.py); here hostile lines go through it.


class _Tripwire:
    """Unpickling this creates `path`: the proof that something unpickled a log line."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_lines(tripwire: Path) -> list[bytes]:
    expression = f"__import__('os').system('touch {tripwire}')"
    return [
        pickle.dumps(_Tripwire(str(tripwire)), protocol=0),
        pickle.dumps(_Tripwire(str(tripwire)), protocol=4),
        expression.encode(),
        f"!!python/object/apply:os.system ['touch {tripwire}']".encode(),
        json.dumps({**GOOD, "impression_id": expression, "__class__": "os.system", "$type": "System.IO"}).encode(),
        json.dumps({**GOOD, "impression_id": "x", "user_id": {"__reduce__": expression}}).encode(),
    ]


def test_hostile_lines_are_data_not_code(tmp_path):
    tripwire = tmp_path / "tripwire"
    results = [parse_line(line, IngestConfig()) for line in hostile_lines(tripwire)]
    assert all(r.reason in {"invalid_utf8", "invalid_json"} for r in results[:4]), [r.reason for r in results]
    assert results[4].ok  # an id that looks like code is just a string...
    value = results[4].example.features.feature["impression_id"].bytes_list.value[0].decode()
    assert value.startswith("__import__")  # ...kept verbatim, never run
    assert results[5].reason == "wrong_type:user_id"
    assert not tripwire.exists()


# -- ids from logs never become paths -----------------------------------------------------------------------------

HOSTILE_IDS = [
    "../../etc/passwd",
    "/tmp/absolute",
    "..\\..\\windows\\system32",
    "%2e%2e%2fescape",
    "day=00000/logs-00000-of-00001.jsonl.gz",
    "Split-train/../../../out",
    "quarantined-evil.jsonl.gz",
]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_ids_from_logs_never_become_paths(tmp_path):
    sandbox = tmp_path / "sandbox"
    logs = sandbox / "logs"
    records = [{**GOOD, "impression_id": i, "user_id": i, "video_id": i} for i in HOSTILE_IDS]
    lines = [json.dumps(r).encode() for r in records] + hostile_lines(tmp_path / "tripwire")
    os.makedirs(day_dir(str(logs), 0))
    with gzip.open(shard_path(str(logs), 0, 0, 1), "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    before = files_under(tmp_path)

    counts = run_ingest(tiny_preset(), str(logs), str(sandbox / "examples"), str(sandbox / "quarantine"), BEAM_ARGS)

    created = files_under(tmp_path) - before
    assert created and all(f.startswith(("sandbox/examples/", "sandbox/quarantine/")) for f in created), created
    assert all(re.fullmatch(r"sandbox/examples/Split-(train|eval)/data_tfrecord-\d{5}-of-\d{5}\.gz", f) or
               re.fullmatch(r"sandbox/quarantine/(quarantined-\d{5}-of-\d{5}\.jsonl\.gz|counts\.json)", f)
               for f in created), created  # fmt: skip
    assert counts["good"] == len(HOSTILE_IDS) + 1  # the ids are valid data; the "code" id too
    assert not Path("/tmp/absolute").exists() and not (tmp_path / "tripwire").exists()


def test_log_paths_are_built_from_numbers_only():
    assert shard_path("gs://b/logs", 3, 1, 4) == "gs://b/logs/day=00003/logs-00001-of-00004.jsonl.gz"
    for bad in ("../1", "1/..", "x"):
        with pytest.raises(ValueError, match="invalid literal for int"):
            shard_path("gs://b/logs", bad, 0, 1)  # type: ignore[arg-type]


# -- size bounds -----------------------------------------------------------------------------------------------


def test_line_and_field_sizes_are_bounded():
    ingest = IngestConfig(max_line_bytes=4_096, max_field_chars=64)
    assert parse_line(b"{" + b" " * 5_000 + b"}", ingest).reason == "oversized_line"  # before any decoding
    assert parse_line(json.dumps({**GOOD, "user_id": "u" * 65}), ingest).reason == "oversized_field:user_id"
    assert parse_line(json.dumps({**GOOD, "user_id": "u" * 64}), ingest).ok
    nested = "[" * 2_000 + "]" * 2_000  # depth bomb inside the size limit
    assert parse_line(nested, ingest).reason in {"invalid_json", "not_an_object"}


# -- TF Serving manifests ----------------------------------------------------------------------------------------

SERVING = REPO / "kubeflow" / "serving"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential|private[_-]?key", re.IGNORECASE)


def documents() -> list[tuple[str, dict]]:
    """What a cluster gets: every overlay rendered by `kubectl kustomize` (without kubectl: the base's files)."""
    out = []
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        for path in sorted((SERVING / "base").glob("*.yaml")):
            out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
        return out
    for overlay in sorted(p.name for p in (SERVING / "overlays").iterdir()):
        text = subprocess.run(
            [kubectl, "kustomize", str(SERVING / "overlays" / overlay)], check=True, capture_output=True, text=True
        ).stdout
        out += [(overlay, doc) for doc in yaml.safe_load_all(text) if doc]
    return out


def pod_specs() -> list[tuple[str, dict]]:
    specs = []
    for name, doc in documents():
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = doc["spec"]
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        specs.append((f"{name}:{doc['kind']}", spec if doc["kind"] == "Pod" else spec["template"]["spec"]))
    return specs


def test_manifests_parse_and_include_the_serving_deployment():
    kinds = {doc.get("kind") for _, doc in documents()}
    assert "Deployment" in kinds and pod_specs()


@pytest.mark.parametrize("where, spec", pod_specs(), ids=[w for w, _ in pod_specs()])
def test_serving_pods_are_locked_down(where, spec):
    pod_security = spec.get("securityContext", {})
    for container in spec.get("initContainers", []) + spec["containers"]:
        name = f"{where}/{container['name']}"
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
        assert security.get("runAsUser", 1) != 0, f"{name}: runs as uid 0"
        assert security.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation"
        assert security.get("readOnlyRootFilesystem") is True, f"{name}: writable root filesystem"
        assert not security.get("privileged", False), f"{name}: privileged"
        image = container["image"]
        pinned = "@sha256:" in image or re.fullmatch(r"[^:@]+(:\d+)?/?[^:@]*:[\w.-]+", image)
        assert pinned and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{name}: resources.{kind}"
        for env in container.get("env", []):
            if SECRET_NAME.search(env["name"]):
                assert "value" not in env, f"{name}: credential {env['name']} inline (use valueFrom.secretKeyRef)"


@pytest.mark.parametrize("where, spec", pod_specs(), ids=[w for w, _ in pod_specs()])
def test_the_model_volume_is_read_only(where, spec):
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["mountPath"].startswith("/models")]
    assert mounts, f"{where}: no model volume mounted under /models"
    for mount in mounts:
        assert mount.get("readOnly") is True, f"{where}: {mount['name']} mounted writable"
        volume = volumes.get(mount["name"], {})
        claim = volume.get("persistentVolumeClaim")
        csi = volume.get("csi")
        if csi is not None:
            assert csi.get("readOnly") is True, f"{where}: CSI volume {mount['name']} not read-only"
        if claim is not None:
            assert claim.get("readOnly") is True, f"{where}: claim {claim['claimName']} not read-only"


def test_no_secret_objects_in_manifests():
    for name, doc in documents():
        assert doc.get("kind") != "Secret", f"{name}: a Secret with its data checked in"
        text = json.dumps(doc)
        assert not CREDENTIAL.search(text), f"{name}: looks like a credential"


# -- no credentials anywhere -------------------------------------------------------------------------------------

# Built from pieces so that this file does not match itself.
CREDENTIAL = re.compile(
    "|".join(
        [
            "-----BEGIN [A-Z ]*" + "PRIVATE KEY-----",
            "AKIA" + "[0-9A-Z]{16}",  # AWS access key id
            '"type": *"service_' + 'account"',  # GCP key file
            "gh[pousr]_" + "[A-Za-z0-9]{36}",  # GitHub token
            "xox[abpr]-" + "[A-Za-z0-9-]{10,}",  # Slack token
            "AIza" + "[0-9A-Za-z_-]{35}",  # Google API key
            r"(password|passwd|secret|api_key|token)\s*[:=]\s*['\"][^'\"\s]{8,}['\"]",
        ]
    ),
    re.IGNORECASE,  # as an inline (?i) in the last alternative did, for the whole pattern
)


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / f for f in listed if (REPO / f).is_file() and (REPO / f).stat().st_size < 2_000_000]


def test_no_credentials_in_the_repository():
    files = repository_files()
    assert any(f.name == "Dockerfile" for f in files)
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        match = CREDENTIAL.search(text)
        assert match is None, f"{path.relative_to(REPO)}: {match.group(0)[:40]!r} looks like a credential"


def test_the_image_bakes_in_no_credentials():
    dockerfile = (REPO / "kubeflow" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("FROM "):
            image = line.split()[1]
            assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
        if re.match(r"(ENV|ARG)\s", line):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", line)
            assert not [n for n in names if SECRET_NAME.search(n)], f"credential in the image: {line}"
    assert not re.search(r"COPY\s+\S*(\.pem|\.key|credentials|\.json\s)", dockerfile)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".git" in ignored  # the build context leaves out history (where a removed secret would survive)
