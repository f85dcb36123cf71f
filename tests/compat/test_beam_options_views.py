"""Beam's `PipelineOptions.view_as` hands out the view it built before, and answers as Beam's own would."""

from __future__ import annotations

import pickle

import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)

from compat import beam_options_views
from compat.install import install_patches

FLAGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(autouse=True)
def patched():
    install_patches()
    assert beam_options_views.installed()


def test_a_view_is_built_once_per_options_object_and_class():
    options = PipelineOptions(FLAGS)
    view = options.view_as(TypeOptions)
    assert options.view_as(TypeOptions) is view and options.view_as(StandardOptions) is not view
    other = PipelineOptions(FLAGS)
    assert other.view_as(TypeOptions) is not view


def test_kept_views_read_and_write_the_same_options_as_beams_own():
    options = PipelineOptions(FLAGS)
    patched, fresh = options.view_as(DirectOptions), beam_options_views.ORIGINAL(options, DirectOptions)
    assert patched.direct_running_mode == fresh.direct_running_mode == "in_memory"
    assert patched.direct_num_workers == fresh.direct_num_workers == 1
    options.view_as(StandardOptions).streaming = True  # written through one view, seen through every other
    assert beam_options_views.ORIGINAL(options, StandardOptions).streaming is True
    assert options.view_as(StandardOptions).streaming is True
    assert options.get_all_options()["streaming"] is True


def test_new_flags_or_options_dictionary_get_a_new_view():
    options = PipelineOptions(FLAGS)
    view = options.view_as(StandardOptions)
    options._flags = ["--runner=PortableRunner"]
    assert options.view_as(StandardOptions) is not view
    assert options.view_as(StandardOptions).runner == "DirectRunner"  # _all_options already held it, as in Beam
    options._all_options = {}
    assert options.view_as(StandardOptions).runner == "PortableRunner"


def test_options_pickle_without_their_views():
    options = PipelineOptions([*FLAGS, "--project=p"])
    options.view_as(GoogleCloudOptions).impersonate_service_account = "someone"
    copy = pickle.loads(pickle.dumps(options))  # noqa: S301 - our own bytes, made one line above
    assert copy.view_as(GoogleCloudOptions).project == "p"
    assert copy.view_as(GoogleCloudOptions).impersonate_service_account is None  # Beam's __getstate__ still ran
    assert copy.view_as(GoogleCloudOptions) is not options.view_as(GoogleCloudOptions)
