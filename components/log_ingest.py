"""LogIngest: a Beam-powered ExampleGen that turns RawLogs into tf.Examples and quarantines bad lines.

A thin TFX adapter over the ingest package (ingest/): the component, its spec and its executor, which runs
`ingest.run.IngestLogs` (the Beam pipeline, described in ingest/run.py and ingest/__init__.py), checks the accounting,
annotates the outputs and enforces `IngestConfig.max_bad_fraction`.

The Examples artifact has the standard layout, `split_names` ["train", "eval"], `span` (the logs' day)
and the payload/file format custom properties, so stock StatisticsGen, Transform and Evaluator read it.
"""

from __future__ import annotations

import logging
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from compat.install import install_patches
from components.types import QuarantinedRecords, RawLogs
from config.settings import IngestConfig, section_from_json, section_json
from ingest.accounting import accounting_counters, check_accounting
from ingest.counts import check_bad_fraction, read_counts
from ingest.errors import IngestError
from ingest.layout import SPLITS
from ingest.run import IngestLogs
from logformat.log_files import pattern_base, span_files, span_glob

# Custom properties that stock components read from an Examples artifact (tfx.components.example_gen.utils;
# set directly so that Beam workers need not import every TFX component).
PAYLOAD_FORMAT_PROPERTY = "payload_format"
FILE_FORMAT_PROPERTY = "file_format"
FILE_FORMAT = "tfrecords_gzip"

log = logging.getLogger(__name__)


class LogIngestSpec(types.ComponentSpec):
    """LogIngest: input `logs` (or, with `ingest.logs_pattern`, none); exec properties `ingest_json` (an
    IngestConfig), `span` (the span whose files the pattern names) and `logs_fingerprint` (of those files, so that
    the cache sees them change); outputs `examples`, `quarantine`."""

    PARAMETERS = {
        "ingest_json": ExecutionParameter(type=str),
        "span": ExecutionParameter(type=int, optional=True),
        "logs_fingerprint": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {"logs": ChannelParameter(type=RawLogs, optional=True)}
    OUTPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "quarantine": ChannelParameter(type=QuarantinedRecords),
    }


def _annotate(examples: types.Artifact, quarantine: types.Artifact, span: int, counts: dict[str, Any]) -> None:
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples.span = span
    examples.set_string_custom_property(
        PAYLOAD_FORMAT_PROPERTY, example_gen_pb2.PayloadFormat.Name(example_gen_pb2.FORMAT_TF_EXAMPLE)
    )
    examples.set_string_custom_property(FILE_FORMAT_PROPERTY, FILE_FORMAT)
    quarantine.span = span
    for artifact in (examples, quarantine):
        artifact.set_int_custom_property("num_total", counts["total"])
        artifact.set_int_custom_property("num_good", counts["good"])
        artifact.set_int_custom_property("num_quarantined", counts["quarantined"])
        artifact.set_float_custom_property("bad_fraction", counts["bad_fraction"])
    for split, count in counts["splits"].items():
        examples.set_int_custom_property(f"num_{split}", count)
    for reason, count in counts["reasons"].items():
        quarantine.set_int_custom_property(f"reason:{reason}", count)


def pattern_files(pattern: str, span: int) -> list[str]:
    """The log files of `span` under a `{SPAN}` pattern (logformat.log_files); IngestError when there are none."""
    files = span_files(pattern, span)
    if not files:
        raise IngestError(f"LogIngest: no log files of span {span} match {span_glob(pattern, span)} ({pattern})")
    return files


class LogIngestExecutor(base_beam_executor.BaseBeamExecutor):
    """Runs IngestLogs, checks the accounting, annotates both outputs with the counts, then enforces
    max_bad_fraction. Nothing is published (so nothing downstream runs) when either check fails."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ingest = section_from_json(IngestConfig, exec_properties["ingest_json"], "ingest")
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        quarantine = artifact_utils.get_single_instance(output_dict["quarantine"])
        pattern = ingest.logs_pattern
        if pattern:  # the user's own logs: the files of this span
            span = int(exec_properties.get("span") or 0)
            files: list[str] | None = pattern_files(pattern, span)
            logs_uri = pattern_base(pattern)
            log.info("LogIngest: span %d: %d files matching %s", span, len(files or []), pattern)
        else:
            logs = artifact_utils.get_single_instance(input_dict["logs"])
            span, files, logs_uri = int(logs.span or 0), None, logs.uri
        install_patches()
        pipeline = self._make_beam_pipeline()
        _ = pipeline | "IngestLogs" >> IngestLogs(logs_uri, ingest, examples.uri, quarantine.uri, files)
        result = pipeline.run()
        result.wait_until_finish()
        counts = read_counts(quarantine.uri)
        check_accounting(accounting_counters(result), examples.uri, quarantine.uri, counts)
        _annotate(examples, quarantine, span, counts)
        check_bad_fraction(counts, ingest, quarantine.uri)


class LogIngest(base_beam_component.BaseBeamComponent):
    """Parses RawLogs (or the files of `span` named by `ingest.logs_pattern`) into train/eval tf.Examples and
    quarantines malformed lines, with Beam.

    Input: `logs` (RawLogs; None when `ingest.logs_pattern` is set). Settings: the ingest section (exec property
    `ingest_json`); `span`, `logs_fingerprint` with a logs pattern. Outputs: `examples` (Examples, splits
    train/eval) and `quarantine` (QuarantinedRecords).
    """

    SPEC_CLASS = LogIngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(LogIngestExecutor)

    def __init__(
        self,
        logs: types.Channel | None,
        ingest: IngestConfig,
        span: int | None = None,
        logs_fingerprint: str | None = None,
    ):
        super().__init__(
            spec=LogIngestSpec(
                logs=logs,
                ingest_json=section_json(ingest),
                span=span,
                logs_fingerprint=logs_fingerprint,
                examples=types.Channel(type=standard_artifacts.Examples),
                quarantine=types.Channel(type=QuarantinedRecords),
            )
        )
