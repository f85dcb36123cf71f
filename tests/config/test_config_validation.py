"""Wrong configuration fails fast, naming the field: one case per rule of config/validation.py, the CLI's
`configuration error: <field>: <why>` with exit status 2, and create_pipeline refusing before building anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from config.overrides import apply_overrides
from config.settings import PRESETS, ConfigError, PipelineConfig, tiny_preset
from config.validation import validate_config, validate_paths
from ranker import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def with_overrides(overrides: dict[str, Any]) -> PipelineConfig:
    """The tiny preset with JSON-style overrides merged in, as `ranker run --config` does."""
    return apply_overrides(tiny_preset(), overrides)


def error_of(overrides: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        validate_config(with_overrides(overrides))
    return raised.value


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    config = PRESETS[name]()
    assert validate_config(config) is config


# (overrides, the field the error must name, a fragment of the reason)
RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "Stable_Ranker"}, "name", "lowercase"),
    ({"model_name": "../etc"}, "model_name", "safe directory name"),
    ({"model_name": "42"}, "model_name", "safe directory name"),
    ({"beam": {"runner": ""}}, "beam.runner", "Beam runner"),
    ({"beam": {"direct_running_mode": "fast"}}, "beam.direct_running_mode", "in_memory"),
    ({"beam": {"direct_num_workers": -1}}, "beam.direct_num_workers", ">= 0"),
    ({"beam": {"extra_args": [1]}}, "beam.extra_args", "strings"),
    ({"world": {"num_users": 0}}, "world.num_users", ">= 1"),
    ({"world": {"num_shards": 1.5}}, "world.num_shards", "integer"),
    ({"world": {"impressions_per_day": True}}, "world.impressions_per_day", "integer"),
    ({"world": {"seed": -1}}, "world.seed", ">= 0"),
    ({"world": {"malformed_rate": 1.5}}, "world.malformed_rate", "[0, 1]"),
    ({"world": {"survey_rate": -0.1}}, "world.survey_rate", "[0, 1]"),
    ({"world": {"num_countries": 99}}, "world.num_countries", "<= 12"),
    ({"world": {"num_videos": 5, "num_topics": 8}}, "world.num_videos", "num_topics"),
    ({"world": {"uploads_per_day": -1}}, "world.uploads_per_day", ">= 0"),
    ({"world": {"num_extra_dense_features": 1001}}, "world.num_extra_dense_features", "<= 1000"),
    ({"world": {"missing_rate": 1.5}}, "world.missing_rate", "[0, 1]"),
    ({"world": {"label_noise_rate": -0.1}}, "world.label_noise_rate", "[0, 1]"),
    ({"world": {"popularity_peak_days": 0.0}}, "world.popularity_peak_days", "> 0"),
    ({"world": {"shocks": [{"kind": "meteor", "day": 1}]}}, "world.shocks[0].kind", "viral_topic"),
    ({"world": {"shocks": [{"kind": "viral_topic", "day": 1, "topic": 99}]}}, "world.shocks[0].topic", "[0, 8)"),
    (
        {"world": {"shocks": [{"kind": "counter_rescale", "day": 1, "field": "click"}]}},
        "world.shocks[0].field",
        "video_views",
    ),
    (
        {"world": {"shocks": [{"kind": "new_country", "day": 1, "traffic_share": 1.0}]}},
        "world.shocks[0].traffic_share",
        "(0, 1)",
    ),
    ({"world": {"shocks": [{"kind": "viral_topic", "day": 1, "colour": "red"}]}}, "world.shocks", "colour"),
    ({"ingest": {"eval_fraction": 0.0}}, "ingest.eval_fraction", "(0, 1)"),
    ({"ingest": {"eval_fraction": 1.0}}, "ingest.eval_fraction", "(0, 1)"),
    ({"ingest": {"max_bad_fraction": 1.5}}, "ingest.max_bad_fraction", "[0, 1]"),
    ({"ingest": {"max_line_bytes": 0}}, "ingest.max_line_bytes", ">= 1"),
    ({"ingest": {"max_field_chars": 100_000}}, "ingest.max_field_chars", "max_line_bytes"),
    ({"transform": {"id_vocab_size": 0}}, "transform.id_vocab_size", ">= 1"),
    ({"transform": {"id_oov_buckets": 0}}, "transform.id_oov_buckets", ">= 1"),
    ({"transform": {"categorical_oov_buckets": -2}}, "transform.categorical_oov_buckets", ">= 1"),
    ({"transform": {"tf_compat_v1": "yes"}}, "transform.tf_compat_v1", "true or false"),
    ({"model": {"architecture": "transformer"}}, "model.architecture", "mmoe"),
    ({"model": {"embedding_dim": 0}}, "model.embedding_dim", ">= 1"),
    ({"model": {"hidden_units": []}}, "model.hidden_units", "non-empty"),
    ({"model": {"hidden_units": [32, -1]}}, "model.hidden_units", "positive"),
    ({"model": {"tower_units": [0]}}, "model.tower_units", "positive"),
    ({"model": {"use_dcn": "yes"}}, "model.use_dcn", "true or false"),
    ({"model": {"dcn_projection_dim": 0}}, "model.dcn_projection_dim", ">= 1"),
    ({"model": {"architecture": "mmoe", "num_experts": 0}}, "model.num_experts", ">= 1"),
    ({"model": {"architecture": "mmoe", "expert_units": []}}, "model.expert_units", "non-empty"),
    ({"model": {"task_weights": {"clicks": 1.0}}}, "model.task_weights", "unknown task"),
    ({"model": {"task_weights": {"click": -1.0}}}, "model.task_weights.click", ">= 0"),
    (
        {
            "model": {
                "task_weights": {t: 0.0 for t in ("click", "like", "share", "dismiss", "watch_time", "survey_rating")}
            }
        },
        "model.task_weights",
        "nothing is trained",
    ),
    ({"model": {"score_weights": {"click": "high"}}}, "model.score_weights.click", "finite"),
    ({"train": {"optimizer": "sgd"}}, "train.optimizer", "unknown optimizer 'sgd'"),
    ({"train": {"optimizer_params": {"momentum": 0.9}}}, "train.optimizer_params", "momentum"),
    (
        {"train": {"optimizer_params": {"variable_relative_threshold": -1.0}}},
        "train.optimizer_params.variable_relative_threshold",
        "refuses",
    ),
    ({"train": {"optimizer_params": [0.5]}}, "train.optimizer_params", "object"),
    ({"train": {"learning_rate": 0.0}}, "train.learning_rate", "> 0"),
    ({"train": {"embedding_learning_rate": -0.1}}, "train.embedding_learning_rate", "> 0"),
    ({"train": {"batch_size": 0}}, "train.batch_size", ">= 1"),
    ({"train": {"train_steps": 0}}, "train.train_steps", ">= 1"),
    ({"train": {"eval_steps": 0}}, "train.eval_steps", ">= 1"),
    ({"train": {"log_every_steps": 10_000}}, "train.log_every_steps", "train_steps"),
    ({"train": {"seed": -3}}, "train.seed", ">= 0"),
    ({"train": {"stop_on_nonfinite": "no"}}, "train.stop_on_nonfinite", "true or false"),
    ({"train": {"op_determinism": 1}}, "train.op_determinism", "true or false"),
    ({"train": {"backup_dir": 3}}, "train.backup_dir", "path"),
    ({"stability": {"spike_ratio": 1.1}}, "stability.spike_ratio", "> recovery_ratio"),
    ({"stability": {"recovery_ratio": 0.5, "spike_ratio": 0.9}}, "stability.recovery_ratio", ">= 1"),
    ({"stability": {"auc_tolerance": 0.1}}, "stability.auc_tolerance", "margin"),
    ({"stability": {"ema_alpha": 0.0}}, "stability.ema_alpha", "(0, 1]"),
    ({"stability": {"persist_points": 0}}, "stability.persist_points", ">= 1"),
    ({"stability": {"end_level_ratio": 0.5}}, "stability.end_level_ratio", "> 1"),
    ({"stability": {"warmup_points": -1}}, "stability.warmup_points", ">= 0"),
    ({"gates": {"min_auc": {"watch_time": 0.6}}}, "gates.min_auc", "unknown task"),
    ({"gates": {"min_auc": {"click": 0.4}}}, "gates.min_auc.click", "[0.5, 1]"),
    ({"gates": {"min_auc": {"click": 1.2}}}, "gates.min_auc.click", "[0.5, 1]"),
    ({"gates": {"max_rmse": {"survey_rating": 0}}}, "gates.max_rmse.survey_rating", "> 0"),
    ({"gates": {"max_auc_drop": 2.0}}, "gates.max_auc_drop", "[0, 1]"),
    ({"gates": {"min_lift_over_baseline": 0.7}}, "gates.min_lift_over_baseline", "[-0.5, 0.5]"),
    ({"gates": {"max_slice_auc_drop": "x"}}, "gates.max_slice_auc_drop", "[-0.5, 0.5]"),
    ({"gates": {"lift_interval": "yes"}}, "gates.lift_interval", "true or false"),
    ({"gates": {"eval_splits": ["test"]}}, "gates.eval_splits", "splits"),
    ({"gates": {"eval_splits": []}}, "gates.eval_splits", "non-empty"),
    ({"gates": {"slice_features": ["user_id"]}}, "gates.slice_features", "categorical"),
    ({"gates": {"cold_video_max_age_days": 0}}, "gates.cold_video_max_age_days", "> 0"),
    ({"gates": {"cold_start_slices": "yes"}}, "gates.cold_start_slices", "true or false"),
    ({"gates": {"cold_user_max_watch_count": 0}}, "gates.cold_user_max_watch_count", ">= 1"),
    ({"baseline": {"learning_rate": 0}}, "baseline.learning_rate", "> 0"),
    ({"baseline": {"l2": -1.0}}, "baseline.l2", ">= 0"),
    ({"baseline": {"dense_l2": -1.0}}, "baseline.dense_l2", ">= 0"),
    ({"model": {"feature_screening_alpha": 0}}, "model.feature_screening_alpha", "(0, 1)"),
    ({"model": {"feature_screening_alpha": 1.5}}, "model.feature_screening_alpha", "(0, 1)"),
    ({"baseline": {"enabled": "no"}}, "baseline.enabled", "true or false"),
    (
        {"baseline": {"enabled": False}, "gates": {"min_lift_over_baseline": 0.0}},
        "gates.min_lift_over_baseline",
        "baseline.enabled is false",
    ),
    ({"model": {"wide_from_simple": 1}}, "model.wide_from_simple", "true or false"),
    ({"model": {"wide": False, "wide_from_simple": True}}, "model.wide_from_simple", "needs model.wide"),
    (
        {"baseline": {"enabled": False}, "model": {"wide": True, "wide_from_simple": True}},
        "model.wide_from_simple",
        "needs baseline.enabled",
    ),
    ({"tuning": {"enabled": 1}}, "tuning.enabled", "true or false"),
    ({"tuning": {"max_trials": 0}}, "tuning.max_trials", ">= 1"),
    ({"tuning": {"train_steps": 2.5}}, "tuning.train_steps", "integer"),
]


@pytest.mark.parametrize("overrides, field, why", RULES, ids=[f"{r[1]}-{i}" for i, r in enumerate(RULES)])
def test_each_rule_names_its_field(overrides, field, why):
    error = error_of(overrides)
    assert error.field == field, str(error)
    assert str(error).startswith(f"{field}: ") and why in str(error), str(error)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"train": {"lr": 0.1}}, "train"),  # unknown field
        ({"train": 5}, "train"),  # a section that is not an object
        ({"world": {"seeds": 1}}, "world"),
        ({"flavour": "vanilla"}, "PipelineConfig"),
    ],
)
def test_malformed_overrides_fail_while_loading(overrides, field):
    with pytest.raises(ConfigError) as raised:
        with_overrides(overrides)
    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")


def test_overrides_switch_the_optimizer_to_its_own_defaults():
    """The user's first experiment: the same pipeline with plain Adagrad (the preset's Clippy λ must not stay)."""
    plain = apply_overrides(tiny_preset(), {"train": {"optimizer": "adagrad"}})
    assert plain.train.optimizer == "adagrad" and plain.train.optimizer_params == {}
    assert validate_config(plain) is plain
    gc = apply_overrides(tiny_preset(), {"train": {"optimizer": "gc", "optimizer_params": {"clip_norm": 0.01}}})
    assert gc.train.optimizer_params == {"clip_norm": 0.01}
    back = apply_overrides(plain, {"train": {"optimizer": "clippy"}})
    assert back.train.optimizer_params == {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2}


def test_overrides_merge_rules():
    base = tiny_preset()
    # optimizer_params given: replaces the preset's whole ({} = the optimizer's own defaults), never merged
    assert apply_overrides(base, {"train": {"optimizer_params": {}}}).train.optimizer_params == {}
    only_abs = apply_overrides(base, {"train": {"optimizer_params": {"absolute_threshold": 0.1}}})
    assert only_abs.train.optimizer_params == {"absolute_threshold": 0.1}
    # null resets a field to its default; for optimizer_params: the optimizer's defaults
    assert apply_overrides(base, {"train": {"batch_size": None}}).train.batch_size == PipelineConfig().train.batch_size
    reset = apply_overrides(only_abs, {"train": {"optimizer_params": None}})
    assert reset.train.optimizer_params == {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2}
    # sections merge field by field; task maps key by key; lists replace
    merged = apply_overrides(base, {"gates": {"min_auc": {"like": 0.6}}, "model": {"hidden_units": [8]}})
    assert merged.gates.min_auc == {"click": 0.55, "like": 0.6}
    assert merged.model.hidden_units == (8,) and merged.model.embedding_dim == base.model.embedding_dim
    assert merged.train == base.train


def test_the_optimizer_table_agrees_with_the_factory():
    """config/vocabulary.py's parameter kinds refuse what models.optimizers.make_optimizer refuses."""
    from config.vocabulary import OPTIMIZER_NAMES, OPTIMIZER_PARAMETERS
    from models.optimizers import OPTIMIZER_NAMES as BUILT
    from models.optimizers import make_optimizer, optimizer_parameters

    assert BUILT == OPTIMIZER_NAMES
    bad = {"pos": 0.0, "nonneg": -1.0, "beta": 1.0, "bool": 1, "steps": -1}
    for name, params in OPTIMIZER_PARAMETERS.items():
        assert set(optimizer_parameters(name)) == set(params)
        for key, kind in params.items():
            with pytest.raises(ConfigError):
                validate_config(
                    apply_overrides(tiny_preset(), {"train": {"optimizer": name, "optimizer_params": {key: bad[kind]}}})
                )
            with pytest.raises(ValueError):  # noqa: PT011 - each parameter words its own refusal
                make_optimizer(name, 0.1, **{key: bad[kind]})


def test_paths(tmp_path):
    validate_paths(str(tmp_path / "new" / "root"), str(tmp_path / "serving"))  # creatable: fine
    validate_paths("gs://bucket/root", "gs://bucket/serving")  # remote: checked by the filesystem later
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        ((str(a_file), str(tmp_path / "s")), "pipeline_root", "not a directory"),
        ((str(a_file / "sub"), str(tmp_path / "s")), "pipeline_root", "not a directory"),
        ((str(tmp_path / "r"), str(a_file)), "serving_root", "not a directory"),
        ((str(tmp_path / "r"), str(tmp_path / "r")), "serving_root", "differ"),
        (("gs://b/r", "gs://b/r/"), "serving_root", "differ"),
        (("", str(tmp_path / "s")), "pipeline_root", "non-empty"),
    ]
    if os.geteuid() != 0:  # root may write anywhere
        read_only = tmp_path / "read_only"
        read_only.mkdir(mode=0o555)
        cases.append(((str(read_only / "root"), str(tmp_path / "s")), "pipeline_root", "not writable"))
    for (pipeline_root, serving_root), field, why in cases:
        with pytest.raises(ConfigError) as raised:
            validate_paths(pipeline_root, serving_root)
        assert raised.value.field == field and why in str(raised.value), (pipeline_root, serving_root, raised.value)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "config_text, expected",
    [
        (None, "configuration error: --config: cannot read"),
        ("{not json", "configuration error: --config: "),
        ("[1, 2]", "configuration error: --config: "),
        ('{"train": {"batch_size": 0}}', "configuration error: train.batch_size: must be an integer >= 1, got 0"),
        ('{"train": {"distribution": "tpu"}}', "configuration error: train.distribution: "),
        ('{"gates": {"max_auc_drop": -1}}', "configuration error: gates.max_auc_drop: must be a number in [0, 1]"),
    ],
)
def test_cli_prints_the_field_and_exits_2_before_any_work(tmp_path, capsys, config_text, expected):
    config_file = tmp_path / "overrides.json"
    if config_text is not None:
        config_file.write_text(config_text)
    root = tmp_path / "root"
    code, err = run_cli(["run", "--preset", "tiny", "--config", str(config_file), "--pipeline-root", str(root)], capsys)
    assert code == 2 and expected in err, err
    assert not root.exists()  # nothing was created


def test_cli_rejects_unknown_preset_and_bad_paths(tmp_path, capsys):
    code, err = run_cli(["run", "--preset", "huge", "--pipeline-root", str(tmp_path / "r")], capsys)
    assert code == 2 and "configuration error: preset: unknown preset 'huge'" in err
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the pipeline root should be")
    code, err = run_cli(["run", "--preset", "tiny", "--pipeline-root", str(blocker)], capsys)
    assert code == 2 and "configuration error: pipeline_root: " in err and "not a directory" in err


def test_installed_cli_exits_2_naming_the_optimizer(tmp_path):
    """The real entry point in a fresh process: message on stderr, exit status 2, no pipeline root created."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"train": {"optimizer": "sgd"}}))
    root = tmp_path / "root"
    argv = [sys.executable, "-m", "ranker.cli", "run", "--preset", "tiny", "--config", str(overrides)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([*argv, "--pipeline-root", str(root)], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "configuration error: train.optimizer: unknown optimizer 'sgd'; choose one of [" in done.stderr
    assert "Traceback" not in done.stderr
    assert not root.exists()
