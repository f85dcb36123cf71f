"""Patches of third-party internals, in one place: each states the library versions it is written for and is
installed only on those (compat/versions.py); `compat.install.install_patches()` installs them all for a process.

* beam_dofn_specs: Beam's per-bundle DoFn state/timer introspection, memoized per class;
* beam_data_plane: the DirectRunner's timed data-plane flush, which loses elements, turned off;
* autograph_keras2: AutoGraph leaves Keras 2 (`tf_keras`) unconverted, as it does for Keras;
* tfx_sdist: TFX builds no sdist of itself for Beam workers that already have TFX;
* objsize_module_globals: the module-globals walk of objsize (Beam's state-cache weights) done once per module set;
* tfma_jackknife_seed: TFMA's jackknife deals examples to its buckets with a fixed seed (reproducible intervals);
* keras_traces: not a patch but a version-checked use of tf_keras's save_traces scope (the serving export).

The package imports no first-party module: it sits at the ground of the layering, beside config.
"""
