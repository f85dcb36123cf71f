"""The per-class memo of Beam's DoFn state/timer introspection gives Beam's own answer, for every DoFn a real pipeline
asks about, and keeps stateful DoFns working."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain

from compat import beam_dofn_specs as dofn_specs
from compat.beam_dofn_specs import cached_get_dofn_specs, is_memoized

COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())
FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)
ORIGINAL = dofn_specs.ORIGINAL


class Counting(beam.DoFn):
    """Numbers the values of each key: keyed state, and a timer that is set but never needed."""

    def process(self, element, count=beam.DoFn.StateParam(COUNT), flush=beam.DoFn.TimerParam(FLUSH)):
        key, _ = element
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield key, seen

    @userstate.on_timer(FLUSH)
    def on_flush(self):
        return []


class Plain(beam.DoFn):
    def process(self, element):
        yield element


class Borrowing(beam.DoFn):
    """A DoFn whose instance may carry another DoFn's bound method: the class alone does not decide its specs."""

    def process(self, element):
        yield element


class Computed(beam.DoFn):
    def __getattr__(self, name):
        raise AttributeError(name)

    def process(self, element):
        yield element


class Duplicate(beam.DoFn):
    def process(self, element, a=beam.DoFn.StateParam(COUNT), b=beam.DoFn.StateParam(COUNT)):
        yield element


def test_the_memo_gives_beams_answer_and_fresh_sets():
    for dofn in (Counting(), Plain(), beam.Map(len).dofn, Computed()):
        assert cached_get_dofn_specs(dofn) == ORIGINAL(dofn)
    state, timers = cached_get_dofn_specs(Counting())
    assert state == {COUNT} and timers == {FLUSH}
    state.clear()  # a caller changing its sets changes nobody else's
    assert cached_get_dofn_specs(Counting()) == ({COUNT}, {FLUSH})


def test_an_instance_with_a_bound_method_of_its_own_is_inspected_afresh():
    plain, borrowing = Borrowing(), Borrowing()
    borrowing.extra = Counting().process  # a bound method whose defaults declare state and a timer
    assert cached_get_dofn_specs(plain) == (set(), set())
    assert cached_get_dofn_specs(borrowing) == ORIGINAL(borrowing) == ({COUNT}, {FLUSH})
    assert cached_get_dofn_specs(plain) == (set(), set())


def test_a_dofn_beam_rejects_is_rejected_every_time():
    for _ in range(2):
        with pytest.raises(ValueError, match="duplicate"):
            cached_get_dofn_specs(Duplicate())
    assert not is_memoized(Duplicate)


def test_real_pipelines_get_beams_answer_for_every_dofn_and_stateful_dofns_still_work(monkeypatch):
    asked: list[object] = []

    def recording(dofn):
        asked.append(dofn)
        return cached_get_dofn_specs(dofn)

    monkeypatch.setattr(dofn_specs, "cached_get_dofn_specs", recording)
    monkeypatch.setattr(userstate, "get_dofn_specs", ORIGINAL)
    assert dofn_specs.install()
    assert dofn_specs.installed()
    with beam.Pipeline(argv=["--direct_running_mode=in_memory", "--direct_num_workers=1"]) as pipeline:
        numbered = (
            pipeline
            | beam.Create([("a", 1), ("b", 2), ("a", 3), ("a", 4)])
            | beam.ParDo(Counting())
            | beam.combiners.Count.PerElement()
            | beam.Map(lambda kv: (kv[0][0], kv[0][1]))
        )
        assert_that(numbered, equal_to([("a", 1), ("a", 2), ("a", 3), ("b", 1)]))
    assert len(asked) > 10  # translation, and every bundle
    for dofn in asked:
        assert cached_get_dofn_specs(dofn) == ORIGINAL(dofn), type(dofn)
