"""The Evaluator's TFMA thresholds refuse a worse model, and then nothing is pushed.

The real TFX Evaluator (with pipeline/eval_config.py's EvalConfig and the tiny preset's gates) and the real
RankerPusher run through LocalDagRunner on small artifacts of the session's shared training (tests/helpers/trained.py):
the day's eval split, the trained ranker, and the same ranker untrained (AUCs near 0.5).

* the untrained candidate against the trained baseline: refused by the click-AUC value threshold (`min_auc`) and by
  the change threshold (`max_auc_drop` below the baseline), and the pusher pushes nothing;
* the trained candidate against itself as baseline: blessed (the thresholds do not refuse everything);
* the untrained candidate against the trained one under the BaselineEvaluator's EvalConfig with `lift_interval`:
  TFMA computes the lift's jackknife interval, which lies wholly below 0, so the refusal stands and names it.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
import tensorflow_model_analysis as tfma

from components.evaluation_verdict import judge_evaluation

pytestmark = pytest.mark.slow

MODEL_NAME = "ranker"


def _failures(evaluation_uri: str) -> list[tuple[str, str, bool]]:
    """(model:output, metric name, whether it is a change threshold) of every threshold TFMA found violated."""
    result = tfma.load_validation_result(evaluation_uri)
    return [
        (f"{f.metric_key.model_name}:{f.metric_key.output_name}", f.metric_key.name, f.metric_key.is_diff)
        for per_slice in result.metric_validations_per_slice
        for f in per_slice.failures
    ]


@pytest.fixture(scope="module")
def gated(trained_ranker, tmp_path_factory) -> dict:
    from ml_metadata.metadata_store import metadata_store
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.types import artifact_utils, standard_artifacts

    from components.evaluator import Evaluator
    from components.pusher import RankerPusher
    from pipeline.eval_config import build_baseline_eval_config, build_eval_config

    root = tmp_path_factory.mktemp("evaluator-gate")
    gates = trained_ranker.config.gates
    assert gates.min_auc == {"click": 0.55} and gates.max_auc_drop == 0.02  # the tiny preset's gates, as shipped
    (root / "stable").mkdir()
    (root / "stable" / "BLESSED").touch()

    def importer(node_id: str, uri: str, artifact_type, properties=None, custom_properties=None):
        return Importer(
            source_uri=uri, artifact_type=artifact_type, properties=properties, custom_properties=custom_properties
        ).with_id(node_id)

    examples = importer(
        "examples",
        trained_ranker.examples_uri,
        standard_artifacts.Examples,
        properties={"split_names": artifact_utils.encode_split_names(["train", "eval"])},
    )
    trained = importer("trained", trained_ranker.model_uri, standard_artifacts.Model)
    untrained = importer("untrained", trained_ranker.untrained_model_uri, standard_artifacts.Model)
    stable = importer(
        "stable", str(root / "stable"), standard_artifacts.ModelBlessing, custom_properties={"blessed": 1}
    )
    eval_config = build_eval_config(gates)
    worse = Evaluator(
        examples=examples.outputs["result"],
        model=untrained.outputs["result"],
        baseline_model=trained.outputs["result"],
        eval_config=eval_config,
    ).with_id("EvaluateWorse")
    same = Evaluator(
        examples=examples.outputs["result"],
        model=trained.outputs["result"],
        baseline_model=trained.outputs["result"],
        eval_config=eval_config,
    ).with_id("EvaluateSame")
    lift_gates = dataclasses.replace(gates, min_lift_over_baseline=0.0, lift_interval=True)
    lift = Evaluator(
        examples=examples.outputs["result"],
        model=untrained.outputs["result"],
        baseline_model=trained.outputs["result"],
        eval_config=build_baseline_eval_config(lift_gates),
    ).with_id("EvaluateLift")
    pusher = RankerPusher(
        model=untrained.outputs["result"],
        model_blessing=worse.outputs["blessing"],
        stability_blessing=stable.outputs["result"],
        examples=examples.outputs["result"],
        serving_root=str(root / "serving"),
        model_name=MODEL_NAME,
    )
    db = str(root / "mlmd.sqlite")
    LocalDagRunner().run(
        pipeline.Pipeline(
            pipeline_name="evaluator-gate",
            pipeline_root=str(root / "pipeline"),
            components=[examples, trained, untrained, stable, worse, same, lift, pusher],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(db),
            beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        )
    )
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(db))

    def output(node: str, key: str):
        [uri] = [
            d for d in os.listdir(os.path.join(root, "pipeline", node, key)) if d.isdigit()
        ]  # one execution per node
        return os.path.join(root, "pipeline", node, key, uri)

    return {
        "root": root,
        "store": store,
        "worse_evaluation": output("EvaluateWorse", "evaluation"),
        "worse_blessing": output("EvaluateWorse", "blessing"),
        "same_evaluation": output("EvaluateSame", "evaluation"),
        "same_blessing": output("EvaluateSame", "blessing"),
        "lift_evaluation": output("EvaluateLift", "evaluation"),
        "lift_blessing": output("EvaluateLift", "blessing"),
    }


def _click_auc(evaluation_uri: str, model: str = "candidate") -> float:
    for per_slice in tfma.load_metrics(evaluation_uri):
        for key_and_value in per_slice.metric_keys_and_values:
            key = key_and_value.key
            if (key.name, key.output_name, key.model_name, key.is_diff) == ("auc", "click", model, False):
                return key_and_value.value.double_value.value
    raise AssertionError(f"no click AUC of the {model} in {evaluation_uri}")


def test_a_worse_model_is_refused_by_the_value_and_change_thresholds(gated):
    assert os.path.exists(os.path.join(gated["worse_blessing"], "NOT_BLESSED"))
    assert not os.path.exists(os.path.join(gated["worse_blessing"], "BLESSED"))
    candidate, baseline = _click_auc(gated["worse_evaluation"]), _click_auc(gated["worse_evaluation"], "baseline")
    assert candidate < 0.55 and candidate < baseline - 0.02, (candidate, baseline)
    failures = _failures(gated["worse_evaluation"])
    click_auc = [is_diff for model, metric, is_diff in failures if model.endswith(":click") and metric == "auc"]
    assert False in click_auc, failures  # the value threshold: AUC below min_auc
    assert True in click_auc, failures  # the change threshold: more than max_auc_drop below the baseline


def test_nothing_is_pushed_after_the_evaluators_refusal(gated):
    [pushed] = gated["store"].get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 0
    assert pushed.custom_properties["refused_by"].string_value == "evaluator"  # the Evaluator alone refused it
    # The refusal names the task, the slice, both models' AUCs and the threshold (components/evaluation_verdict.py).
    candidate = _click_auc(gated["worse_evaluation"])
    baseline = _click_auc(gated["worse_evaluation"], "baseline")
    reason = pushed.custom_properties["refusal_reason"].string_value
    assert f"click AUC on the overall slice: the ranker {candidate:.4f} (required >= 0.5500)" in reason, reason
    assert f"the ranker {candidate:.4f} vs the baseline model {baseline:.4f}" in reason, reason
    assert "required >= -0.0200" in reason, reason
    model_dir = gated["root"] / "serving" / MODEL_NAME
    assert not model_dir.exists() or not [p for p in model_dir.iterdir() if p.name.isdigit()]


def test_the_same_model_against_itself_is_blessed(gated):
    assert os.path.exists(os.path.join(gated["same_blessing"], "BLESSED")), _failures(gated["same_evaluation"])
    assert _click_auc(gated["same_evaluation"]) >= 0.55
    assert _failures(gated["same_evaluation"]) == []


def test_a_lift_interval_wholly_below_the_bound_keeps_the_refusal(gated):
    assert os.path.exists(os.path.join(gated["lift_blessing"], "NOT_BLESSED"))
    assert not os.path.exists(os.path.join(gated["lift_blessing"], "BLESSED"))
    judgement = judge_evaluation(gated["lift_evaluation"], "the baseline model")
    [clause] = [c for c in judgement.shown if c.startswith("click AUC")]
    assert "95 % interval [" in clause and "required >= +0.0000" in clause, clause
    lower, upper = (float(x) for x in clause.split("95 % interval [")[1].split("]")[0].split(", "))
    assert lower <= upper < 0.0, clause
