"""The log ingest: a Beam pipeline that turns log files into train/eval tf.Examples and quarantines bad lines.

The domain behind the LogIngest component (components/log_ingest.py, a thin TFX adapter), also run on its own by
`run_ingest` (benchmarks, stress runs, tests). Beam, TensorFlow and the lower packages (config, logformat) only: no
TFX here.

Split: deterministic by impression, `farmhash.fingerprint64(impression_id) % 10000` below
`eval_fraction * 10000` goes to eval. The fingerprint is stable across processes, machines and runs
(unlike Python's `hash`), so an impression always lands in the same split.

Duplicates: impression ids are unique by contract (a logger retry or a replayed file repeats them). Valid
records are grouped by `impression_id` (within its bucket); the first in log order (source file path, then line
number: the zero-padded `day=` directories make that chronological) becomes the example, every other one is
quarantined as `duplicate_impression_id` with `duplicate_of` = "<source>:<line>" of the kept one. The choice
depends on the data only, never on runner or bundle order.

Files: each file is read through `logformat.line_reader` (bounded memory per line, strict gzip). An empty
file is quarantined as `empty_file` and a truncated or corrupt one as `unreadable_file` (its lines read before
the damage are kept), one record per file.

Nothing is dropped silently: every line is either an example of one split or a quarantined record with
its reason, and `counts.json` holds `total = good + quarantined` (lines plus the file-level records). When
`quarantined / total` exceeds `IngestConfig.max_bad_fraction` (or there are no lines at all), `check_bad_fraction`
(called by the LogIngest executor) raises `BadRecordsError` naming the worst reasons, after the quarantine has been
written so it can be inspected.

Untrusted input: lines are only `json.loads`-ed (never evaluated or unpickled), bounded in size before
decoding, and nothing taken from a line ever becomes part of a path: output paths are built from the
artifact URIs and constants, quarantine records name the source file by its path relative to the logs URI.

Modules, bottom to top:

* `layout`: the directories read and written (RawLogs files, Split-* examples, quarantine, counts.json);
* `errors`: IngestError and its kinds (BadRecordsError, AccountingError);
* `sink`: TFRecord framing and the gzipped TFRecord sink of the examples;
* `accounting`: Beam metrics counters of records read and examples kept, checked against what is on disk;
* `dofns`: the pipeline's steps (read, parse, keep the first of each id, quarantine duplicates), split and
  quarantine records;
* `counts`: counts.json (summed, read back) and the bad-fraction check;
* `run`: the IngestLogs PTransform and `run_ingest`.
"""
