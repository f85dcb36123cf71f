"""RankerPusher executor and serving_export: every gate (the simple-model gate when wired), atomic numeric versions,
warm-up, models.config."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.tiny_model import TinyRanker, evaluator_blessing, model_artifact, save_tiny_ranker  # noqa: F401
from tfx.types import artifact_utils, standard_artifacts

from components.pusher import Executor, RankerPusher
from components.stability_gate import Executor as GateExecutor
from config.settings import PipelineConfig, section_json
from models.stability import TrainingReport, training_report_path
from serving import export as serving_export

MODEL = "ranker"
LABELS = {"click": 1, "like": 0, "share": 0, "dismiss": 0, "has_survey": 1}


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory) -> str:
    return save_tiny_ranker(str(tmp_path_factory.mktemp("model") / "Format-Serving"))


@pytest.fixture(scope="module")
def other_saved_model_dir(tmp_path_factory) -> str:
    """A different model (another weight): a new push of it is a new version."""
    return save_tiny_ranker(str(tmp_path_factory.mktemp("other_model") / "Format-Serving"), w=0.7)


def examples_artifact(root: Path, count: int = 20) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split in ("train", "eval"):
        (root / "examples" / f"Split-{split}").mkdir(parents=True)
        path = str(root / "examples" / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for i in range(count):
                feature = {"position": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 8]))}
                feature["watch_time_s"] = tf.train.Feature(float_list=tf.train.FloatList(value=[12.5]))
                feature["survey_rating"] = tf.train.Feature(float_list=tf.train.FloatList(value=[4.0]))
                for name, value in LABELS.items():
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


def stability_blessing(root: Path, diverged: bool) -> standard_artifacts.ModelBlessing:
    """Produced by the real StabilityGate executor from a training report."""
    steps = list(range(0, 400, 10))
    loss = list(0.4 + 0.6 * np.exp(-np.arange(len(steps)) / 8.0))
    if diverged:
        loss[-1] = float("nan")
    TrainingReport(steps, loss).save(training_report_path(str(root / "model_run")))
    model_run, blessing = standard_artifacts.ModelRun(), standard_artifacts.ModelBlessing()
    model_run.uri, blessing.uri = str(root / "model_run"), str(root / "stability_blessing")
    GateExecutor().Do(
        {"model_run": [model_run]},
        {"blessing": [blessing]},
        {"stability_json": section_json(PipelineConfig().stability)},
    )
    return blessing


def push(
    root: Path,
    saved_model_dir: str,
    serving_root: Path,
    evaluator_ok: bool | None = True,
    stable: bool | None = True,
    with_examples: bool = True,
    num_warmup_records: int | None = 4,
) -> standard_artifacts.PushedModel:
    root.mkdir(parents=True, exist_ok=True)
    inputs = {"model": [model_artifact(saved_model_dir)]}
    if evaluator_ok is not None:
        inputs["model_blessing"] = [evaluator_blessing(root, evaluator_ok)]
    if stable is not None:
        inputs["stability_blessing"] = [stability_blessing(root, diverged=not stable)]
    if with_examples:
        inputs["examples"] = [examples_artifact(root)]
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / "pushed_model")
    props = {"serving_root": str(serving_root), "model_name": MODEL}
    if num_warmup_records is not None:
        props["num_warmup_records"] = num_warmup_records
    Executor().Do(inputs, {"pushed_model": [pushed]}, props)
    return pushed


def record(pushed) -> dict:
    return json.loads(Path(pushed.uri, "push_record.json").read_text())


def visible_entries(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir())


def test_blessed_model_is_pushed_with_warmup_and_models_config(tmp_path, saved_model_dir):
    serving_root = tmp_path / "serving"
    pushed = push(tmp_path / "run1", saved_model_dir, serving_root)
    assert pushed.get_int_custom_property("pushed") == 1
    version = pushed.get_string_custom_property("pushed_version")
    destination = pushed.get_string_custom_property("pushed_destination")
    assert version.isdigit() and destination == str(serving_root / MODEL / version)
    assert visible_entries(serving_root / MODEL) == [version]  # no temp directory left behind
    assert (Path(destination) / "saved_model.pb").exists() and (Path(pushed.uri) / "saved_model.pb").exists()
    assert record(pushed)["warmup_records"] == 4

    config = serving_export.read_models_config(str(serving_root / "models.config"))
    [entry] = config.model_config_list.config
    assert (entry.name, entry.model_platform) == (MODEL, "tensorflow")
    assert entry.base_path == str((serving_root / MODEL).absolute()) and os.path.isabs(entry.base_path)

    logs = serving_export.read_warmup_requests(os.path.join(destination, "assets.extra", "tf_serving_warmup_requests"))
    assert len(logs) == 4
    loaded = tf.saved_model.load(destination)
    for log in logs:
        request = log.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == (MODEL, "serving_default")
        assert list(request.inputs) == ["examples"]
        batch = tf.make_ndarray(request.inputs["examples"])
        example = tf.train.Example.FromString(batch[0])
        assert set(example.features.feature) == {"position"}  # every label removed
        outputs = loaded.signatures["serving_default"](examples=tf.constant(batch))  # replay succeeds
        assert np.all(np.isfinite(outputs["score"].numpy()))


def test_versions_are_monotonic_and_never_overwritten(tmp_path, saved_model_dir, other_saved_model_dir):
    serving_root = tmp_path / "serving"
    future = serving_root / MODEL / "9999999999"
    future.mkdir(parents=True)
    (future / "marker").write_text("an existing version")
    first = push(tmp_path / "run1", saved_model_dir, serving_root, with_examples=False)
    second = push(tmp_path / "run2", other_saved_model_dir, serving_root, with_examples=False)
    versions = [int(p.get_string_custom_property("pushed_version")) for p in (first, second)]
    assert versions == [10_000_000_000, 10_000_000_001]
    assert (future / "marker").read_text() == "an existing version"
    assert visible_entries(serving_root / MODEL) == ["10000000000", "10000000001", "9999999999"]
    extra = Path(second.get_string_custom_property("pushed_destination")) / "assets.extra"
    assert sorted(os.listdir(extra)) == ["push_source.json"]  # no warm-up records without examples
    assert "no examples input" in record(second)["warmup_note"]


def test_lost_race_for_a_version_takes_the_next_number(tmp_path, saved_model_dir):
    model_dir = tmp_path / "serving" / MODEL

    def other_writer_claims_1000(_tmp_dir: str) -> None:
        (model_dir / "1000").mkdir()
        (model_dir / "1000" / "theirs").write_text("x")

    result = serving_export.push_version(
        saved_model_dir, str(tmp_path / "serving"), MODEL, prepare=other_writer_claims_1000, now=1000
    )
    assert result.version == 1001
    assert visible_entries(model_dir) == ["1000", "1001"]
    assert visible_entries(model_dir / "1000") == ["theirs"]


def test_failed_push_leaves_nothing_visible(tmp_path, saved_model_dir):
    def fail(_tmp_dir: str) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        serving_export.push_version(saved_model_dir, str(tmp_path / "serving"), MODEL, prepare=fail)
    assert visible_entries(tmp_path / "serving" / MODEL) == []


def test_the_same_model_is_pushed_exactly_once(tmp_path, saved_model_dir, other_saved_model_dir):
    """A rerun (crash after the rename, or an Evaluator re-run against a new baseline) finds its version."""
    serving_root = tmp_path / "serving"
    first = push(tmp_path / "run1", saved_model_dir, serving_root)
    (serving_root / "models.config").unlink()  # as if the first attempt died before rewriting it
    again = push(tmp_path / "run2", saved_model_dir, serving_root)
    version = first.get_string_custom_property("pushed_version")
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_version") == version
    assert record(again)["already_pushed"] and "not pushed again" in record(again)["warmup_note"]
    assert visible_entries(serving_root / MODEL) == [version]
    assert (serving_root / "models.config").exists()  # rewritten by the rerun
    assert (Path(again.uri) / "saved_model.pb").exists()  # archived like a fresh push
    source = serving_export.push_source(str(serving_root / MODEL / version))
    assert source["model_fingerprint"] == serving_export.model_fingerprint(saved_model_dir)

    other = push(tmp_path / "run3", other_saved_model_dir, serving_root, with_examples=False)
    rollback = push(tmp_path / "run4", saved_model_dir, serving_root, with_examples=False)
    versions = [p.get_string_custom_property("pushed_version") for p in (first, other, rollback)]
    assert len(set(versions)) == 3  # going back to an older model is a new version: TF Serving serves the latest
    assert visible_entries(serving_root / MODEL) == sorted(versions)


def test_failed_copy_leaves_no_visible_version(tmp_path, saved_model_dir, other_saved_model_dir):
    serving_root = tmp_path / "serving"
    good = push(tmp_path / "good", saved_model_dir, serving_root, with_examples=False)
    config_before = (serving_root / "models.config").read_text()
    broken = tmp_path / "broken" / "Format-Serving"
    shutil.copytree(other_saved_model_dir, broken)
    (broken / "variables" / "zz_unreadable").symlink_to(tmp_path / "gone")  # copied after the real files
    with pytest.raises(tf.errors.NotFoundError):
        serving_export.push_version(str(broken), str(serving_root), MODEL)
    assert visible_entries(serving_root / MODEL) == [good.get_string_custom_property("pushed_version")]
    assert (serving_root / "models.config").read_text() == config_before


def test_a_push_killed_midway_stays_invisible_and_the_next_push_works(tmp_path, saved_model_dir):
    """SIGKILL while the version is being assembled: only a dot-prefixed temp directory remains, which TF Serving
    and models.config ignore; the next push claims a proper version."""
    serving_root = tmp_path / "serving"
    script = (
        "import os, signal\n"
        "from serving import export as serving_export\n"
        "serving_export.push_version(os.environ['SRC'], os.environ['DST'], 'ranker',\n"
        "    prepare=lambda tmp_dir: os.kill(os.getpid(), signal.SIGKILL))\n"
    )
    env = {**os.environ, "SRC": saved_model_dir, "DST": str(serving_root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    [leftover] = visible_entries(serving_root / MODEL)
    assert leftover.startswith(".tmp-push-") and (serving_root / MODEL / leftover / "saved_model.pb").exists()
    assert serving_export.list_versions(str(serving_root / MODEL)) == []
    assert serving_export.model_names(str(serving_root)) == []  # models.config would list nothing

    pushed = push(tmp_path / "retry", saved_model_dir, serving_root, with_examples=False)
    version = pushed.get_string_custom_property("pushed_version")
    assert serving_export.list_versions(str(serving_root / MODEL)) == [int(version)]
    config = serving_export.read_models_config(str(serving_root / "models.config"))
    assert [c.name for c in config.model_config_list.config] == [MODEL]


@pytest.mark.parametrize(
    "evaluator_ok, stable, refused_by, why",
    [
        (False, True, "evaluator", "NOT_BLESSED"),
        (True, False, "stability_gate", "loss became non-finite (nan) at step 390"),
        (False, False, "evaluator,stability_gate", "non-finite"),
        (True, None, "stability_gate", "no blessing from the stability_gate"),
        (None, True, "evaluator", "no blessing from the evaluator"),
    ],
)
def test_nothing_is_pushed_when_a_gate_refuses(tmp_path, saved_model_dir, evaluator_ok, stable, refused_by, why):
    serving_root = tmp_path / "serving"
    good = push(tmp_path / "good", saved_model_dir, serving_root, with_examples=False)
    config_before = (serving_root / "models.config").read_text()
    pushed = push(tmp_path / "bad", saved_model_dir, serving_root, evaluator_ok, stable)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not pushed.has_custom_property("pushed_version")
    assert pushed.get_string_custom_property("refused_by") == refused_by
    assert why in pushed.get_string_custom_property("refusal_reason")
    assert record(pushed)["pushed"] is False and set(record(pushed)["refusals"]) == set(refused_by.split(","))
    # Serving keeps the last good version and models.config still points at it.
    assert visible_entries(serving_root / MODEL) == [good.get_string_custom_property("pushed_version")]
    assert (serving_root / "models.config").read_text() == config_before


@pytest.mark.parametrize("baseline_ok, pushed", [(True, 1), (False, 0), (None, 0)])
def test_the_baseline_evaluators_blessing_is_required_when_wired(tmp_path, saved_model_dir, baseline_ok, pushed):
    reason = "click AUC on the overall slice: the ranker 0.6610 vs the simple model 0.6702 (change -0.0092, ...)"
    inputs = {
        "model": [model_artifact(saved_model_dir)],
        "model_blessing": [evaluator_blessing(tmp_path / "served", True)],
        "stability_blessing": [stability_blessing(tmp_path, diverged=False)],
    }
    if baseline_ok is not None:
        inputs["baseline_blessing"] = [evaluator_blessing(tmp_path / "simple", baseline_ok)]
        inputs["baseline_blessing"][0].set_string_custom_property("reason", reason)
    props = {"serving_root": str(tmp_path / "serving"), "model_name": MODEL, "gated_by_baseline": 1}
    out = standard_artifacts.PushedModel()
    out.uri = str(tmp_path / "pushed")
    Executor().Do(inputs, {"pushed_model": [out]}, props)
    assert out.get_int_custom_property("pushed") == pushed
    if not pushed:
        assert out.get_string_custom_property("refused_by") == "baseline_evaluator"
        why = reason if baseline_ok is False else "no blessing from the baseline_evaluator"
        assert why in out.get_string_custom_property("refusal_reason")


def test_the_baseline_evaluator_does_not_gate_when_not_wired(tmp_path, saved_model_dir):
    inputs = {
        "model": [model_artifact(saved_model_dir)],
        "model_blessing": [evaluator_blessing(tmp_path / "served", True)],
        "stability_blessing": [stability_blessing(tmp_path, diverged=False)],
        "baseline_blessing": [evaluator_blessing(tmp_path / "simple", False)],  # measured, not gating
    }
    out = standard_artifacts.PushedModel()
    out.uri = str(tmp_path / "pushed")
    Executor().Do(inputs, {"pushed_model": [out]}, {"serving_root": str(tmp_path / "serving"), "model_name": MODEL})
    assert out.get_int_custom_property("pushed") == 1


def test_evaluator_blessing_without_verdict_refuses(tmp_path, saved_model_dir):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "empty_blessing")
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    inputs = {
        "model": [model_artifact(saved_model_dir)],
        "model_blessing": [blessing],
        "stability_blessing": [stability_blessing(tmp_path, diverged=False)],
    }
    props = {"serving_root": str(tmp_path / "serving"), "model_name": MODEL}
    Executor().Do(inputs, {"pushed_model": [pushed]}, props)
    assert pushed.get_int_custom_property("pushed") == 0
    assert "left no verdict" in pushed.get_string_custom_property("refusal_reason")


def test_default_warmup_count_and_models_config_lists_every_model(tmp_path, saved_model_dir):
    serving_root = tmp_path / "serving"
    (serving_root / "other_model" / "7").mkdir(parents=True)
    (serving_root / "not_a_model" / "latest").mkdir(parents=True)  # no numeric version: not listed
    (serving_root / ".hidden" / "1").mkdir(parents=True)
    pushed = push(tmp_path / "run", saved_model_dir, serving_root, num_warmup_records=None)
    assert record(pushed)["warmup_records"] == 16
    config = serving_export.read_models_config(str(serving_root / "models.config"))
    assert [c.name for c in config.model_config_list.config] == ["other_model", MODEL]
    k8s = serving_export.build_models_config(str(serving_root), base_path_root="/models")
    assert [c.base_path for c in k8s.model_config_list.config] == ["/models/other_model", "/models/ranker"]
    assert not [n for n in os.listdir(serving_root) if n.startswith(".models.config")]


def test_model_breaking_the_serving_contract_fails(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None], tf.float32)])
    path = str(tmp_path / "bad" / "Format-Serving")
    tf.saved_model.save(module, path, signatures={"serving_default": module.f})
    with pytest.raises(ValueError, match="must take 'examples' as a string tensor"):
        push(tmp_path / "run", path, tmp_path / "serving")
    assert not (tmp_path / "serving" / MODEL).exists() or visible_entries(tmp_path / "serving" / MODEL) == []


def test_unsafe_model_names_are_rejected():
    for name in ("../x", ".hidden", "123", "a/b", ""):
        with pytest.raises(ValueError, match="model_name"):
            serving_export.validate_model_name(name)
    assert serving_export.is_version_name("17") and not serving_export.is_version_name(".tmp-push-17-ab")


def test_component_interface():
    from tfx import types

    def ch(t):
        return types.Channel(type=t)

    pusher = RankerPusher(
        model=ch(standard_artifacts.Model),
        model_blessing=ch(standard_artifacts.ModelBlessing),
        stability_blessing=ch(standard_artifacts.ModelBlessing),
        examples=ch(standard_artifacts.Examples),
        serving_root="/srv",
        model_name=MODEL,
    )
    assert set(pusher.inputs) == {"model", "model_blessing", "stability_blessing", "examples"}
    assert set(pusher.outputs) == {"pushed_model"}
    assert pusher.exec_properties["num_warmup_records"] == 16
    assert pusher.exec_properties["gated_by_baseline"] == 0
    gated = RankerPusher(
        model=ch(standard_artifacts.Model),
        model_blessing=ch(standard_artifacts.ModelBlessing),
        stability_blessing=ch(standard_artifacts.ModelBlessing),
        baseline_blessing=ch(standard_artifacts.ModelBlessing),
        serving_root="/srv",
        model_name=MODEL,
    )
    assert "baseline_blessing" in gated.inputs and gated.exec_properties["gated_by_baseline"] == 1
    with pytest.raises(ValueError, match="both"):
        RankerPusher(ch(standard_artifacts.Model), None, ch(standard_artifacts.ModelBlessing), "/srv", MODEL)


def test_gate_and_pusher_run_with_local_dag_runner_and_compile_for_kubeflow_v2(tmp_path, saved_model_dir):
    # Narrow imports: `from tfx import v1` would import every standard component (~15 s).
    from ml_metadata.metadata_store import metadata_store
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.stability_gate import StabilityGate

    steps = list(range(0, 400, 10))
    loss = list(0.4 + 0.6 * np.exp(-np.arange(len(steps)) / 8.0))
    report_path = training_report_path(str(tmp_path / "model_run"))
    (tmp_path / "eval_blessing").mkdir()
    (tmp_path / "eval_blessing" / "BLESSED").touch()
    db = str(tmp_path / "mlmd.sqlite")

    def build() -> pipeline.Pipeline:
        def importer(uri: str, artifact_type, **properties):
            return Importer(source_uri=uri, artifact_type=artifact_type, custom_properties=properties)

        run = importer(str(tmp_path / "model_run"), standard_artifacts.ModelRun).with_id("run_importer")
        model = importer(os.path.dirname(saved_model_dir), standard_artifacts.Model).with_id("model_importer")
        evaluation = importer(str(tmp_path / "eval_blessing"), standard_artifacts.ModelBlessing, blessed=1)
        gate = StabilityGate(model_run=run.outputs["result"], stability=PipelineConfig().stability)
        pusher = RankerPusher(
            model=model.outputs["result"],
            model_blessing=evaluation.with_id("eval_importer").outputs["result"],
            stability_blessing=gate.outputs["blessing"],
            serving_root=str(tmp_path / "serving"),
            model_name=MODEL,
        )
        return pipeline.Pipeline(
            pipeline_name="gate-and-push",
            pipeline_root=str(tmp_path / "pipeline_root"),
            components=[run, model, evaluation, gate, pusher],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(db),
        )

    TrainingReport(steps, loss).save(report_path)
    LocalDagRunner().run(build())
    TrainingReport(steps, [*loss[:-1], float("nan")]).save(report_path)
    LocalDagRunner().run(build())

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(db))
    pushes = sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id)
    assert [a.custom_properties["pushed"].int_value for a in pushes] == [1, 0]
    assert "non-finite" in pushes[1].custom_properties["refusal_reason"].string_value
    assert len(visible_entries(tmp_path / "serving" / MODEL)) == 1

    spec_path = str(tmp_path / "pipeline.json")
    config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image="ranker:test")
    kubeflow_v2_dag_runner.KubeflowV2DagRunner(config=config, output_filename=spec_path).run(build())
    executors = json.loads(Path(spec_path).read_text())["pipelineSpec"]["deploymentSpec"]["executors"]
    class_paths = {e["container"]["args"][1] for e in executors.values() if "container" in e}
    assert {"components.stability_gate.Executor", "components.pusher.Executor"} <= class_paths
