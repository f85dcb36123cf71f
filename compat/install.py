"""One function installs every patch of compat/ for this process, each only on the versions it is written for."""

from __future__ import annotations

import importlib

PATCH_MODULES = (
    "compat.beam_dofn_specs",
    "compat.beam_data_plane",
    "compat.autograph_keras2",
    "compat.tfx_sdist",
    "compat.objsize_module_globals",
    "compat.beam_options_views",
    "compat.tfma_jackknife_seed",
)


def install_patches() -> dict[str, bool]:
    """Installs every patch (idempotent); returns {module: installed}. A patch whose library is another version is
    skipped with a compat.versions.CompatWarning."""
    return {name: importlib.import_module(name).install() for name in PATCH_MODULES}


def patches_installed() -> dict[str, bool]:
    return {name: importlib.import_module(name).installed() for name in PATCH_MODULES}
