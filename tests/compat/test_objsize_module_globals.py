"""objsize's module-globals walk, memoized per set of loaded modules, gives Beam's state cache the same weights."""

from __future__ import annotations

import sys
import types

import pytest
from apache_beam.runners.worker import statecache
from objsize import traverse

from compat import objsize_module_globals as memo


def values() -> list[object]:
    module = sys.modules[__name__]
    return [
        {"a": [1, 2, 3], "b": "x" * 1000},
        [list(range(100))] * 3,
        ("t", 1.5),
        module,
        vars(module),
        {1: vars(pytest)},
    ]


def original_size(value: object, monkeypatch) -> int:
    """The deep size objsize's own walk gives `value`."""
    with monkeypatch.context() as m:
        m.setattr(traverse.TraversalContext, "_update_exclude_set", memo.ORIGINAL)
        return statecache.get_deep_size(value)


def test_installed_by_install_patches():
    assert memo.install() and memo.installed()


def test_the_same_sizes_as_objsizes_own_walk(monkeypatch):
    memo.install()
    assert [statecache.get_deep_size(v) for v in values()] == [original_size(v, monkeypatch) for v in values()]


def test_a_module_loaded_later_is_excluded_as_the_walk_would(monkeypatch):
    memo.install()
    statecache.get_deep_size([])  # the memo holds the modules loaded so far
    module = types.ModuleType("compat_probe_module")
    module.payload = list(range(1000))
    holder = {"globals": vars(module)}
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert id(vars(module)) in memo.module_globals_ids()
    assert statecache.get_deep_size(holder) == original_size(holder, monkeypatch)
    monkeypatch.delitem(sys.modules, module.__name__)
    assert id(vars(module)) not in memo.module_globals_ids()  # removed: measured again like any other dictionary
    assert statecache.get_deep_size(holder) == original_size(holder, monkeypatch)
    assert statecache.get_deep_size(holder) > 8 * 1000  # the payload counts once the module is gone
