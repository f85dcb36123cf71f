"""Nothing lost and nothing altered: gzip members checked before their lines count, values judged after the float32
cast, the accounting that fails an ingest which lost lines, the DirectRunner race switched off, your own logs by
{SPAN} pattern and `ranker validate-logs`."""

from __future__ import annotations

import gzip
import json
import os

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import worker_handlers

from compat import beam_data_plane
from compat.install import install_patches
from config.settings import ConfigError, IngestConfig, tiny_preset
from config.validation import validate_ingest
from ingest.accounting import accounting_counters, check_accounting
from ingest.dofns import CORRUPT_MEMBER_REASON
from ingest.errors import AccountingError
from ingest.layout import day_dir
from ingest.run import IngestLogs, run_ingest
from logformat import line_reader
from logformat.columnar import judge_lines
from logformat.log_files import LogsPatternError, pattern_base, span_files, span_glob
from logformat.parser import check_line
from logformat.validate import validate_logs
from ranker import cli
from world.simulator import World

CONFIG = tiny_preset()
INGEST = IngestConfig()
RECORDS = list(World(CONFIG.world).generate_shard(0, 0))[:40]
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def lines(records, **changes) -> bytes:
    return b"".join(json.dumps({**r, **changes}).encode() + b"\n" for r in records)


def member(data: bytes, damage: str | None = None) -> bytes:
    """One gzip member; damage: 'crc' flips a bit of its CRC-32, 'length' of its length, 'digit' a digit inside."""
    out = bytearray(gzip.compress(data, mtime=0, compresslevel=0))  # stored blocks: the data is visible in place
    if damage == "crc":
        out[-8] ^= 1
    elif damage == "length":
        out[-1] ^= 1
    elif damage == "digit":
        at = out.index(b'"position": 1,')
        out[at + len(b'"position": ')] = ord("6")
    return bytes(out)


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def quarantined(quarantine_uri: str) -> list[dict]:
    out = []
    for name in sorted(os.listdir(quarantine_uri)):
        if name.startswith("quarantined-"):
            with gzip.open(os.path.join(quarantine_uri, name), "rt") as f:
                out += [json.loads(line) for line in f if line.strip()]
    return out


# -- gzip members --------------------------------------------------------------------------------------------------


def test_a_member_that_fails_its_crc_contributes_no_example(tmp_path):
    first, damaged, last = RECORDS[:10], [r for r in RECORDS[10:30] if r["position"] == 1][:1], RECORDS[30:40]
    assert damaged, "the tiny world has a record at position 1"
    logs = str(tmp_path / "logs")
    data = member(lines(first)) + member(lines(damaged), "digit") + member(lines(last))
    write(f"{day_dir(logs, 0)}/logs-00000-of-00001.jsonl.gz", data)
    with pytest.raises(OSError):  # noqa: PT011 - whatever Python's gzip says, after it has handed out the line
        gzip.decompress(data)
    counts = run_ingest(CONFIG, logs, str(tmp_path / "ex"), str(tmp_path / "q"), BEAM_ARGS)
    assert counts["reasons"] == {CORRUPT_MEMBER_REASON: 1}
    assert counts["good"] == len(first) + len(last)  # the intact members before and after are kept
    (record,) = quarantined(str(tmp_path / "q"))
    assert record["line_number"] == len(first) + 1 and '"position": 6' in record["line"]


@pytest.mark.parametrize("damage", ["crc", "length"])
def test_crc_and_length_failures_flag_every_line_touching_the_member(tmp_path, damage):
    path = write(str(tmp_path / "a.jsonl.gz"), member(b"a\nb") + member(b"c\nd\n", damage) + member(b"e\n"))
    got = [(line, intact) for _, line, _, intact in line_reader.read_log_lines(path, 100, chunk_bytes=5)]
    # "bc" spans the intact first member and the damaged second one: not intact either.
    assert got == [(b"a", True), (b"bc", False), (b"d", False), (b"e", True)]


def test_a_long_member_is_checked_by_a_second_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(line_reader, "MEMBER_HOLD_BYTES", 64)
    body = b"".join(b"%05d\n" % i for i in range(200))
    path = write(str(tmp_path / "a.jsonl.gz"), member(b"x\n") + member(body, "crc") + member(body))
    with open(path, "rb") as raw:
        reopen = lambda: open(path, "rb")  # noqa: E731, SIM115
        chunks = line_reader.verified_gzip_chunks(raw, reopen, chunk_bytes=32, hold_bytes=64)
        got = [intact for *_, intact in line_reader.bounded_lines(chunks, 100)]
    assert got == [True] + [False] * 200 + [True] * 200


def test_truncation_keeps_the_lines_before_as_before(tmp_path):
    data = member(lines(RECORDS[:5])) + member(lines(RECORDS[5:10]))[:-30]
    path = write(str(tmp_path / "a.jsonl.gz"), data)
    got = []
    with pytest.raises(EOFError):  # noqa: PT012 - the lines handed out before the damage are kept
        for item in line_reader.read_log_lines(path, INGEST.max_line_bytes):
            got.append(item)
    assert len(got) >= 5 and all(intact for *_, intact in got)


# -- the float32 cast ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"video_duration_s": 1e-50, "watch_time_s": 0.0, "click": 0, "like": 0, "share": 0}, "out_of_range"),
        ({"video_duration_s": 2.0**-151, "watch_time_s": 0.0, "click": 0, "like": 0, "share": 0}, "out_of_range"),
    ],
)
def test_a_positive_value_that_underflows_float32_is_out_of_range(changes, reason):
    record = {**RECORDS[0], **changes}
    assert check_line(json.dumps(record), INGEST) == (None, f"{reason}:video_duration_s")
    assert judge_lines([json.dumps(record).encode()], INGEST) == [(f"{reason}:video_duration_s", None, None)]


def test_the_smallest_positive_float32_stays_valid():
    record = {**RECORDS[0], "video_duration_s": 2.0**-149, "watch_time_s": 0.0, "click": 0, "like": 0, "share": 0}
    assert check_line(json.dumps(record), INGEST)[1] is None
    assert judge_lines([json.dumps(record).encode()], INGEST)[0][0] is None


# -- the accounting ------------------------------------------------------------------------------------------------


class _DropFirstPack(beam.DoFn):
    """Loses data the way the Beam race did: one element of valid records silently gone."""

    def __init__(self):
        self._dropped = False

    def process(self, element):
        if not self._dropped:
            self._dropped = True
            return
        yield element


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    logs = str(tmp_path_factory.mktemp("acct") / "logs")
    write(f"{day_dir(logs, 0)}/logs-00000-of-00002.jsonl.gz", gzip.compress(lines(RECORDS[:20])))
    write(f"{day_dir(logs, 0)}/logs-00001-of-00002.jsonl.gz", gzip.compress(lines(RECORDS[20:40]) + b"{oops\n"))
    return logs


def test_the_accounting_fails_an_ingest_that_lost_lines(tmp_path, two_files):
    tamper = beam.ParDo(_DropFirstPack())
    with pytest.raises(AccountingError, match=r"day=00000/logs-0000[01]-of-00002.jsonl.gz: 20 read, \d+ examples"):
        run_ingest(CONFIG, two_files, str(tmp_path / "ex"), str(tmp_path / "q"), BEAM_ARGS, tamper=tamper)


def test_the_accounting_holds_on_a_clean_run_and_sees_deleted_outputs(tmp_path, two_files):
    install_patches()
    pipeline = beam.Pipeline(argv=BEAM_ARGS)
    examples, quarantine = str(tmp_path / "ex"), str(tmp_path / "q")
    _ = pipeline | IngestLogs(two_files, CONFIG.ingest, examples, quarantine)
    result = pipeline.run()
    result.wait_until_finish()
    counters = accounting_counters(result)
    assert check_accounting(counters, examples, quarantine) == {"read": 41, "examples": 40, "quarantined": 1}
    for name in os.listdir(quarantine):
        if name.startswith("quarantined-"):
            os.remove(os.path.join(quarantine, name))  # quarantined records lost on disk
    with pytest.raises(AccountingError, match=r"logs-00001-of-00002.jsonl.gz: 21 read, 20 examples \+ 0"):
        check_accounting(counters, examples, quarantine)


# -- the DirectRunner race -----------------------------------------------------------------------------------------


def test_pipelines_run_without_the_timed_data_plane_flush(tmp_path, two_files):
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 1000  # Beam's default
    run_ingest(CONFIG, two_files, str(tmp_path / "ex"), str(tmp_path / "q"), BEAM_ARGS)
    assert beam_data_plane.installed() and worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0


# -- your own logs -------------------------------------------------------------------------------------------------


def test_span_patterns_resolve_like_tfx(tmp_path):
    for d in ("day=00003", "day=3", "day=13", "day=0003x"):
        write(str(tmp_path / d / "a.jsonl.gz"), b"")
    root = str(tmp_path)
    assert span_files(f"{root}/day={{SPAN}}/*.jsonl.gz", 3) == [
        f"{root}/day=00003/a.jsonl.gz",
        f"{root}/day=3/a.jsonl.gz",
    ]
    assert span_files(f"{root}/day={{SPAN:5}}/*.jsonl.gz", 3) == [f"{root}/day=00003/a.jsonl.gz"]
    assert span_files(f"{root}/day={{SPAN}}/*.jsonl.gz", 4) == []
    assert pattern_base(f"{root}/day={{SPAN}}/*.gz") == root
    with pytest.raises(LogsPatternError):
        span_glob(f"{root}/day=/*.gz", 3)
    with pytest.raises(LogsPatternError):
        span_glob(f"{root}/day={{SPAN:2}}/*.gz", 123)


@pytest.mark.parametrize("pattern", ["logs/*.gz", "a={SPAN}/b={SPAN}", "day={SPAN:x}/*", "day={SPAN}/{x}"])
def test_a_pattern_without_exactly_one_span_is_a_configuration_error(pattern):
    with pytest.raises(ConfigError, match=r"ingest.logs_pattern"):
        validate_ingest(IngestConfig(logs_pattern=pattern))


def test_with_a_logs_pattern_the_dag_has_no_log_generator(tmp_path, two_files):
    from pipeline.pipeline import create_pipeline

    config = CONFIG.replace(ingest=IngestConfig(logs_pattern=f"{two_files}/day={{SPAN:5}}/*.jsonl.gz"))
    ids = {c.id for c in create_pipeline(config, str(tmp_path / "root"), str(tmp_path / "serving"), day=0).components}
    assert {"LogIngest", "NextDayLogIngest"} <= ids and not {"LogGen", "NextDayLogGen"} & ids


# -- validate-logs -------------------------------------------------------------------------------------------------


def test_validate_logs_reports_reasons_samples_and_fails_above_the_bad_fraction(tmp_path, two_files, capsys):
    bad = write(str(tmp_path / "bad.jsonl"), lines(RECORDS[:3]) + b"[1]\n" + lines(RECORDS[:1]))
    report = validate_logs([f"{two_files}/day=*/*.jsonl.gz", bad, str(tmp_path / "none*")], INGEST, samples=1)
    assert (report.files, report.total, report.good) == (3, 46, 40)
    assert report.reasons == {"invalid_json": 1, "not_an_object": 1, "duplicate_impression_id": 4}
    assert report.samples["not_an_object"] == [f"{bad}:4: [1]"]
    assert report.unmatched == [str(tmp_path / "none*")]
    assert cli.main(["validate-logs", bad]) == 1  # 1 of 5 quarantined > max_bad_fraction
    assert "not_an_object: 1" in capsys.readouterr().out
    assert cli.main(["validate-logs", f"{two_files}/day=*/logs-00000-*"]) == 0
    assert cli.main(["validate-logs", str(tmp_path / "missing.jsonl")]) == 1
