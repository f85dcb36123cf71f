"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path through tests/conftest.py,
and the subprocess scripts under tests/ put it there themselves).

* `helpers.batches`: fake transformed batches for the ranker (one definition; the ranker and distribution tests);
* `helpers.serving_flags`: the TF Serving flags the push relies on, written out as literals;
* `helpers.trained`: the shared tiny run's data, Transform and trained model, plus an untrained export, once per
  session (tests/conftest.py's `trained_ranker` fixture): the serving, evaluator and training-reliability tests;
* `helpers.beam_services`: Beam's local job service and SDK worker pool, for the shared tiny run;
* `helpers.saved_weights`: a served ranker's weights through TensorFlow's own loader (the warm-start checks).
"""
