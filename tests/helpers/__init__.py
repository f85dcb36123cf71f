"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path through tests/conftest.py,
and the subprocess scripts under tests/ put it there themselves).

* `helpers.batches`: fake transformed batches for the ranker (one definition; the ranker and distribution tests);
* `helpers.serving_flags`: the TF Serving flags the push relies on, written out as literals;
* `helpers.trained`: one small real Transform + Trainer run, built once per session (tests/conftest.py's
  `trained_ranker` fixture) and shared by the serving, warm-start, pusher and evaluator tests.
"""
