"""Keeps the views Beam's `PipelineOptions.view_as` builds, one per options object and options class.

`PipelineOptions.view_as(cls)` constructs a new `cls` on every call: an argparse parser with every argument of the
class, a parse of the options' flags, argparse's gettext lookups (each a search of the locale directories on disk)
and a `logging.basicConfig()`. `Pipeline.apply` calls it two to four times for every transform it applies
(`TypeOptions` and `StandardOptions`), so a pipeline of a few hundred transforms, such as tf.Transform's analysis or
TFMA's evaluation, spends seconds building parsers whose answers never change (CHANGELOG.md has the measurement).

Why reusing a view gives the same answer: a view holds no option values of its own. Its reads and writes go to the
`_all_options` dictionary of the object it was made from, and its visible options depend only on `cls` and the
flags it parsed. A kept view is handed out again only while the object still has the same `_all_options`
dictionary and the same `_flags` list it was made with; otherwise Beam's `view_as` builds a new one, as before.
Beam's own first-call bookkeeping (copying a class's defaults into `_all_options`) happens on the call that builds
the view, and a later call would not change it: those keys are then present.

Installed by compat.install.install_patches() where our pipelines are built and run (a local run, the lab's data
preparation, LogGen and LogIngest).

The views are kept beside the options object (a weak-keyed table), not in it: `PipelineOptions.__getstate__` pickles
the object's `__dict__`, and calls `view_as` itself while pickling.
"""

from __future__ import annotations

import threading
import weakref

from apache_beam.options import pipeline_options

from compat.versions import set_if_written_for

NAME = "Beam's PipelineOptions view memo"
WRITTEN_FOR = {"apache-beam": "2.59.0"}
ORIGINAL = pipeline_options.PipelineOptions.view_as
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def view_as(self: pipeline_options.PipelineOptions, cls: type) -> pipeline_options.PipelineOptions:
    """Beam 2.59's `PipelineOptions.view_as`, returning the view it built before for the same options and class."""
    views = _views.get(self)
    view = views.get(cls) if views is not None else None
    if view is not None and view._all_options is self._all_options and view._flags is self._flags:
        return view
    view = ORIGINAL(self, cls)
    with _lock:
        _views.setdefault(self, {})[cls] = view
    return view


def install() -> bool:
    """Installs the memo for this process (idempotent); False on a Beam it is not written for."""
    return set_if_written_for(NAME, WRITTEN_FOR, pipeline_options.PipelineOptions, "view_as", view_as)


def installed() -> bool:
    return pipeline_options.PipelineOptions.view_as is view_as
