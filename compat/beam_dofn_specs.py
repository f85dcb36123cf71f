"""Memoizes Beam's state/timer introspection of a DoFn per DoFn class: the same answer, computed once.

`apache_beam.transforms.userstate.get_dofn_specs(dofn)` walks `dir(dofn)` and, for every bound method, builds an
`inspect.Signature` to read its parameters' default values (a `DoFn.StateParam` or `DoFn.TimerParam` default declares
state or a timer). Beam calls it for every ParDo when a pipeline is translated, and again for every DoFn of every
bundle through `is_stateful_dofn` and `validate_stateful_dofn`: hundreds of thousands of signatures for one tiny
Transform, a quarter of its time (CHANGELOG.md has the measurement).

Why one answer per class is the same answer: the defaults of a bound method are those of the function the class
defines (a default value lives on the function object), so for a DoFn whose instance holds no bound method of its own
the result depends on its class alone. Instances that do (`self.process = other.method`), classes that compute their
attributes (`__getattr__`, `__getattribute__`, `__dir__`) and DoFns Beam rejects (the original raises; nothing is
stored) are always inspected afresh. The cache holds its classes weakly and hands out copies of the sets.

Installed by compat.install.install_patches() where our pipelines run. Beam's portable job service and SDK workers,
and stock components in their own container on Kubeflow (Transform, Evaluator, StatisticsGen), keep Beam's own
introspection.
"""

from __future__ import annotations

import types
import weakref

from apache_beam.transforms import userstate

from compat.versions import set_if_written_for

NAME = "Beam's DoFn-spec memo"
WRITTEN_FOR = {"apache-beam": "2.59.0"}
ORIGINAL = userstate.get_dofn_specs
_specs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # DoFn class -> (state specs, timer specs)


def _class_decides(dofn: object) -> bool:
    cls = type(dofn)
    if any(name in vars(c) for c in cls.__mro__[:-1] for name in ("__getattr__", "__getattribute__", "__dir__")):
        return False
    return not any(isinstance(value, types.MethodType) for value in getattr(dofn, "__dict__", {}).values())


def cached_get_dofn_specs(dofn):
    """`userstate.get_dofn_specs`, memoized per class where the class alone decides the answer."""
    if not _class_decides(dofn):
        return ORIGINAL(dofn)
    cls = type(dofn)
    found = _specs.get(cls)
    if found is None:
        found = _specs[cls] = ORIGINAL(dofn)
    return set(found[0]), set(found[1])


def is_memoized(dofn_class: type) -> bool:
    """Whether the memo holds an answer for `dofn_class`."""
    return dofn_class in _specs


def install() -> bool:
    """Installs the memoized introspection for this process (idempotent); False on a Beam it is not written for."""
    return set_if_written_for(NAME, WRITTEN_FOR, userstate, "get_dofn_specs", cached_get_dofn_specs)


def installed() -> bool:
    return userstate.get_dofn_specs is cached_get_dofn_specs
