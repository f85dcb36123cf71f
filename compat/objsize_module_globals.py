"""Computes objsize's set of module-globals dictionaries once per set of loaded modules, not once per measurement.

Beam's SDK worker weighs every value it puts in its state cache (`apache_beam.runners.worker.statecache`, a side
input's contents for instance) with `objsize.get_deep_size`. objsize 0.7 leaves shared module state out of a deep
size: each call starts a traversal context that walks `sys.modules` and collects the `vars()` dictionary of every
loaded module (`objsize.traverse._iter_modules_globals`). With TensorFlow, TFX and Beam loaded that is about 10,000
modules per call, and Beam makes such a call for every side-input load: a quarter of a tiny Transform's time and a
tenth of an Evaluator's went to this walk (CHANGELOG.md has the measurement).

Why reusing the walk gives the same answer: a module's `vars()` is the same dictionary object for the module's whole
life, so the list only changes when a module is imported or removed. The patch keeps the dictionaries of the last
walk (strong references, so no other object can take one of their ids) with the set of their ids, and walks again
whenever the loaded module objects differ from the last walk's (`sys.modules`' values compared by identity, ~10,000
references in C). Nothing else changes: objsize excludes the same dictionaries and measures the same objects.

Installed by compat.install.install_patches() where our pipelines run (the Beam components of a local run, LogGen
and LogIngest). Beam's portable job service and SDK workers and stock components in their own container keep
objsize's own walk.
"""

from __future__ import annotations

import collections
import contextlib
import sys

from objsize import traverse

from compat.versions import set_if_written_for

NAME = "objsize's module-globals memo"
WRITTEN_FOR = {"objsize": "0.7.0"}
ORIGINAL = traverse.TraversalContext._update_exclude_set
# (the module objects of the last walk in sys.modules' order, their vars() dictionaries, the ids of those): one tuple,
# replaced whole, so that threads measuring at once each read a consistent memo.
_memo: tuple[list, list, frozenset] = ([], [], frozenset())


def module_globals_ids() -> frozenset[int]:
    """The ids of every loaded module's vars(), as objsize's walk collects them; walked again when the set of loaded
    modules differs from the last walk's (a list comparison by identity, in C)."""
    global _memo
    modules = list(sys.modules.values())
    memo = _memo
    if modules != memo[0]:
        dictionaries = []
        for module in modules:
            with contextlib.suppress(TypeError):  # an entry without a __dict__, skipped as objsize skips it
                dictionaries.append(vars(module))
        memo = _memo = (modules, dictionaries, frozenset(map(id, dictionaries)))
    return memo[2]


def _update_exclude_set(self: traverse.TraversalContext) -> None:
    """objsize 0.7.0's `TraversalContext._update_exclude_set` with the module-globals ids taken from the memo."""
    self.exclude_set.add(id(None))
    if self.settings.exclude_modules_globals:
        self.exclude_set.update(module_globals_ids())
    if self.settings.exclude is not None:
        collections.deque(self.traverse_bfs(*self.settings.exclude, exclude=True), maxlen=0)


def install() -> bool:
    """Installs the memo for this process (idempotent); False on an objsize it is not written for."""
    return set_if_written_for(NAME, WRITTEN_FOR, traverse.TraversalContext, "_update_exclude_set", _update_exclude_set)


def installed() -> bool:
    return traverse.TraversalContext._update_exclude_set is _update_exclude_set
