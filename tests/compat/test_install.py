"""One call installs every patch of compat/ on the versions they are written for, and skips a patch with a warning
where the library is another version."""

from __future__ import annotations

from importlib import metadata

import pytest

from compat import beam_data_plane, tfx_sdist
from compat.install import PATCH_MODULES, install_patches, patches_installed
from compat.versions import CompatWarning, mismatches, version_matches


def test_every_patch_is_installed_on_the_locked_versions():
    assert install_patches() == dict.fromkeys(PATCH_MODULES, True)
    assert patches_installed() == dict.fromkeys(PATCH_MODULES, True)


def test_versions_match_by_release_prefix():
    assert version_matches("2.59.0", "2.59.0")
    assert version_matches("2.16.2", "2.16") and not version_matches("2.17.0", "2.16")
    assert not version_matches("2.59.1", "2.59.0") and not version_matches(None, "2.59.0")
    assert mismatches({"apache-beam": "2.59.0"}) == []
    assert mismatches({"apache-beam": "1.0"}) == [f"apache-beam {beam_version()} (written for 1.0)"]


def beam_version() -> str:
    return metadata.version("apache-beam")


def test_a_patch_for_another_version_is_skipped_with_a_warning(monkeypatch):
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from tfx.utils import dependency_utils

    monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", tfx_sdist.ORIGINAL)
    monkeypatch.setattr(beam_data_plane, "WRITTEN_FOR", {"apache-beam": "0.1"})
    monkeypatch.setattr(tfx_sdist, "WRITTEN_FOR", {"tfx": "0.1"})
    with pytest.warns(CompatWarning) as caught:
        installed = install_patches()
    assert sorted(str(w.message) for w in caught) == [
        f"Beam's DirectRunner data-plane fix is not installed: apache-beam {beam_version()} (written for 0.1)",
        f"TFX's sdist pass-through is not installed: tfx {metadata.version('tfx')} (written for 0.1)",
    ]
    assert not installed["compat.beam_data_plane"] and not installed["compat.tfx_sdist"]
    assert installed["compat.beam_dofn_specs"] and installed["compat.autograph_keras2"]
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 1000 and not tfx_sdist.installed()
