"""DriftGate: between-span distribution drift and skew checks with TFDV's comparators; a violation stops the run.

The run of day d compares, on the features and thresholds of `DriftConfig`:

* drift: span d's statistics with span d-1's (TFDV `drift_comparator`, "current" vs "previous");
* skew: span d's statistics with span d+1's, the data the model is evaluated on (TFDV `skew_comparator`,
  "training" vs "serving").

Statistics: L-infinity distance `max_v |p(v) - q(v)|` between the value frequencies of a categorical feature, and the
approximate Jensen-Shannon divergence `JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M)`, `M = ½ (P + Q)`, between the histograms of a
numeric one (TFDV rebuckets both onto common boundaries). A logging change that rescales a counter x1000 moves all of
its mass to other buckets: JS ≈ 1, while day-to-day drift of the synthetic world stays below 0.05.

A comparison above its threshold is a violation unless acknowledged: `DriftConfig.acknowledged` entries
"FEATURE@DAY" (or "*@DAY") declare the shift that starts on DAY intended, which waives every comparison of that
feature across the boundary between day-1 and DAY (the drift check of run DAY, the skew check of run DAY-1). The gate
writes `drift_report.json` (every comparison, its value, threshold and verdict) and the TFDV anomalies
(`SchemaDiff.pb`) into its ExampleAnomalies artifact, then raises `DriftError` naming the feature, the statistic, its
value, the threshold and the spans of each violation, so Transform and the Trainer never see that data.
"""

# No `from __future__ import annotations`: TFX parses the @component annotations at import time.
import dataclasses
import json
import os
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from config.settings import DriftConfig, section_from_json
from config.validation import parse_acknowledgement

REPORT_FILE = "drift_report.json"
_MEASUREMENT = anomalies_pb2.DriftSkewInfo.Measurement
ANOMALIES_FILE = "SchemaDiff.pb"
STATISTIC_NAMES = {
    _MEASUREMENT.L_INFTY: "L-infinity distance",
    _MEASUREMENT.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
}


class DriftError(RuntimeError):
    """Span statistics drifted or skewed beyond a threshold; the message names features and statistics."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One comparator's measurement on one feature between two spans."""

    feature: str
    check: str  # "drift" (vs the previous span) or "skew" (vs the next span)
    statistic: str
    value: float
    threshold: float
    spans: tuple[int, int]  # (earlier span, later span)
    acknowledged: bool = False

    @property
    def violated(self) -> bool:
        return self.value > self.threshold

    @property
    def blocking(self) -> bool:
        return self.violated and not self.acknowledged

    def describe(self) -> str:
        earlier, later = self.spans
        verdict = "acknowledged" if self.acknowledged else ("VIOLATION" if self.violated else "ok")
        return (
            f"{self.feature}: {self.statistic} {self.value:.4g} between span {later} and span {earlier} "
            f"({self.check}) {'>' if self.violated else '<='} threshold {self.threshold:g} [{verdict}]"
        )


def is_acknowledged(feature: str, spans: tuple[int, int], acknowledged: tuple[str, ...]) -> bool:
    """Whether a comparison of `feature` between spans (a, b), a < b, crosses an acknowledged shift a < DAY <= b."""
    earlier, later = spans
    for entry in acknowledged:
        name, day = parse_acknowledgement(entry)
        if name in ("*", feature) and earlier < day <= later:
            return True
    return False


def comparator_schema(schema: schema_pb2.Schema, drift: Any) -> tuple[schema_pb2.Schema, list[str]]:
    """A copy of `schema` with drift (and skew) comparators on the configured features; and the configured
    features the schema does not have (skipped)."""
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    by_name = {f.name: f for f in out.feature}
    skipped = []
    for thresholds, kind in ((drift.linf_thresholds, "infinity_norm"), (drift.jsd_thresholds, "jsd")):
        for name, threshold in sorted(thresholds.items()):
            feature = by_name.get(name)
            if feature is None:
                skipped.append(name)
                continue
            comparators = [feature.drift_comparator] + ([feature.skew_comparator] if drift.check_skew else [])
            for comparator in comparators:
                if kind == "infinity_norm":
                    comparator.infinity_norm.threshold = float(threshold)
                else:
                    comparator.jensen_shannon_divergence.threshold = float(threshold)
    return out, skipped


def compare(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    drift: Any,
    day: int,
    previous: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    next_: statistics_pb2.DatasetFeatureStatisticsList | None = None,
) -> tuple[list[Comparison], anomalies_pb2.Anomalies, list[str]]:
    """Every configured comparison of span `day` with span day-1 (`previous`) and day+1 (`next_`)."""
    import tensorflow_data_validation as tfdv

    with_comparators, skipped = comparator_schema(schema, drift)
    if previous is None and (next_ is None or not drift.check_skew):
        return [], anomalies_pb2.Anomalies(), skipped
    anomalies = tfdv.validate_statistics(
        current,
        with_comparators,
        previous_statistics=previous,
        serving_statistics=next_ if drift.check_skew else None,
    )
    comparisons = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for check, measurements, spans in (
            ("drift", info.drift_measurements, (day - 1, day)),
            ("skew", info.skew_measurements, (day, day + 1)),
        ):
            for m in measurements:
                comparisons.append(
                    Comparison(
                        feature=feature,
                        check=check,
                        statistic=STATISTIC_NAMES.get(m.type, _MEASUREMENT.Type.Name(m.type)),
                        value=float(m.value),
                        threshold=float(m.threshold),
                        spans=spans,
                        acknowledged=is_acknowledged(feature, spans, tuple(drift.acknowledged)),
                    )
                )
    comparisons.sort(key=lambda c: (c.check, c.feature))
    return comparisons, anomalies, skipped


def failure_message(day: int, comparisons: list[Comparison]) -> str:
    blocking = [c for c in comparisons if c.blocking]
    lines = "\n  ".join(c.describe() for c in blocking)
    features = sorted({c.feature for c in blocking})
    hint = ", ".join(f"{f}@{min(c.spans[1] for c in blocking if c.feature == f)}" for f in features)
    return (
        f"DriftGate: {len(blocking)} between-span check(s) failed for day {day}; stopping before training:\n  "
        f"{lines}\nIf the shift is intended, acknowledge it (drift.acknowledged or --accept-drift): {hint}"
    )


def _load(artifact: Any, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    from tfx.components.statistics_gen import stats_artifact_utils

    return stats_artifact_utils.load_statistics(artifact, split).proto()


@component
def DriftGate(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    report: OutputArtifact[standard_artifacts.ExampleAnomalies],
    drift_json: Parameter[str],
    day: Parameter[int],
    previous_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    next_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
) -> None:
    """Compares span `day` with its neighbours (see the module docstring); raises DriftError on a violation."""
    drift = section_from_json(DriftConfig, drift_json, "drift")
    schema_proto = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    split = drift.split
    comparisons, anomalies, skipped = compare(
        _load(statistics, split),
        schema_proto,
        drift,
        day,
        previous=_load(previous_statistics, split) if previous_statistics is not None else None,
        next_=_load(next_statistics, split) if next_statistics is not None else None,
    )
    report.split_names = artifact_utils.encode_split_names([split])
    report.span = day
    io_utils.write_bytes_file(os.path.join(report.uri, f"Split-{split}", ANOMALIES_FILE), anomalies.SerializeToString())
    content = {
        "day": day,
        "split": split,
        "previous_span": day - 1 if previous_statistics is not None else None,
        "next_span": day + 1 if next_statistics is not None else None,
        "skipped_features": skipped,
        "comparisons": [{**dataclasses.asdict(c), "violated": c.violated} for c in comparisons],
    }
    io_utils.write_string_file(os.path.join(report.uri, REPORT_FILE), json.dumps(content, indent=1))
    blocking = [c for c in comparisons if c.blocking]
    report.set_int_custom_property("num_comparisons", len(comparisons))
    report.set_int_custom_property("num_violations", len(blocking))
    report.set_int_custom_property("num_acknowledged", sum(c.violated and c.acknowledged for c in comparisons))
    worst = max(comparisons, key=lambda c: c.value / c.threshold if c.threshold else 0.0, default=None)
    if worst is not None:
        report.set_string_custom_property("worst", worst.describe())
    for c in comparisons:
        if c.violated:
            print(c.describe())
    if blocking:
        raise DriftError(failure_message(day, comparisons))
    print(f"drift gate: {len(comparisons)} comparisons, no unacknowledged violation")
