"""Sparse (tf.IndexedSlices) gradients: touched rows only, identical to dense where the maths says so."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import OPTIMIZER_NAMES, make_optimizer, split_optimizer

ROWS, COLUMNS = 20, 3
INDICES = [3, 7, 3, 15]  # with a duplicate, which the Keras base class sums
TOUCHED = sorted(set(INDICES))
UNTOUCHED = [row for row in range(ROWS) if row not in TOUCHED]


def initial_table():
    return np.random.default_rng(0).normal(size=(ROWS, COLUMNS)) * 0.3


def sparse_gradients(steps=3):
    rng = np.random.default_rng(1)
    return [
        tf.IndexedSlices(
            tf.constant(rng.normal(size=(len(INDICES), COLUMNS)) * 3.0),
            tf.constant(INDICES),
            tf.constant([ROWS, COLUMNS]),
        )
        for _ in range(steps)
    ]


def run(name, gradients, densify, **params):
    optimizer = make_optimizer(name, 0.5, **params)
    table = tf.Variable(initial_table())
    for grad in gradients:
        optimizer.apply_gradients([(tf.convert_to_tensor(grad) if densify else grad, table)])
    return table.numpy(), optimizer


EXACT_CASES = [
    ("adagrad", {}),
    ("adagrad", {"use_standard_accumulator_update": False}),
    ("gc", {"clip_norm": 0.5}),
    ("gc", {"clip_norm": 0.5, "clip_accumulator_update": True}),
    ("clippy", {}),
    ("clippy", {"use_standard_accumulator_update": False}),
    ("clippy", {"use_standard_accumulator_update": False, "clip_accumulator_update": True}),
    ("clippy", {"accumulator_relative_threshold": 1e-3, "absolute_threshold": 0.0}),
]


@pytest.mark.parametrize("name, params", EXACT_CASES)
def test_sparse_equals_dense_and_untouched_rows_do_not_move(name, params):
    gradients = sparse_gradients()
    sparse, sparse_optimizer = run(name, gradients, densify=False, export_clipping_factors=True, **params)
    dense, dense_optimizer = run(name, gradients, densify=True, export_clipping_factors=True, **params)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        sparse_optimizer._accumulators[0].numpy(), dense_optimizer._accumulators[0].numpy(), rtol=1e-12
    )
    np.testing.assert_array_equal(sparse[UNTOUCHED], initial_table()[UNTOUCHED])
    np.testing.assert_array_equal(sparse_optimizer._accumulators[0].numpy()[UNTOUCHED], 0.1)
    assert not np.allclose(sparse[TOUCHED], initial_table()[TOUCHED])
    if name != "adagrad":  # the comparison covers an actual clipping step
        assert sparse_optimizer.clipping_factors[0].numpy() < 1.0


@pytest.mark.parametrize(
    "name, params",
    [("agc", {"clipping": 0.05}), ("agc", {"clipping": 0.05, "unitwise": False}), ("lamb", {"mu": 0.1})],
)
def test_norm_based_rules_use_the_touched_rows(name, params):
    # AGC and LAMB look at ‖w‖₂; for sparse gradients it is taken over the touched rows (documented convention),
    # so a sparse step equals a dense step on the table made of those rows, and untouched rows do not move.
    gradients = sparse_gradients(steps=1)
    sparse, _ = run(name, gradients, densify=False, **params)
    optimizer = make_optimizer(name, 0.5, **params)
    rows = tf.Variable(initial_table()[TOUCHED])
    summed = tf.math.unsorted_segment_sum(
        gradients[0].values, tf.searchsorted(tf.constant(TOUCHED), gradients[0].indices), len(TOUCHED)
    )
    optimizer.apply_gradients([(summed, rows)])
    np.testing.assert_allclose(sparse[TOUCHED], rows.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(sparse[UNTOUCHED], initial_table()[UNTOUCHED])


@pytest.mark.parametrize("name", ["adam", "clippy_adam"])
def test_adam_family_is_lazy_on_sparse_gradients(name):
    # Sparse Adam updates m, v and w of the touched rows only ("LazyAdam"); the first step equals dense Adam's.
    gradients = sparse_gradients()
    sparse, optimizer = run(name, gradients, densify=False)
    np.testing.assert_array_equal(sparse[UNTOUCHED], initial_table()[UNTOUCHED])
    np.testing.assert_array_equal(optimizer._momentums[0].numpy()[UNTOUCHED], 0.0)
    first_sparse, _ = run(name, gradients[:1], densify=False)
    first_dense, _ = run(name, gradients[:1], densify=True)
    np.testing.assert_allclose(first_sparse, first_dense, rtol=1e-12)


def test_sparse_step_inside_tf_function_keeps_the_gradient_sparse():
    table = tf.Variable(initial_table())
    optimizer = make_optimizer("clippy", 0.5)
    seen = []
    original = optimizer.update_step

    def spy(gradient, variable):
        seen.append(type(gradient).__name__)
        return original(gradient, variable)

    optimizer.update_step = spy

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.gather(table, ids)))
        optimizer.apply_gradients([(tape.gradient(loss, table), table)])

    step(tf.constant(INDICES))
    assert seen and set(seen) == {"IndexedSlices"}  # traced twice: the first trace creates the slots
    np.testing.assert_array_equal(table.numpy()[UNTOUCHED], initial_table()[UNTOUCHED])


BIG_ROWS = 7919  # a prime no other dimension uses: any tensor with it is a table-sized pass


def table_sized_ops(optimizer):
    """Ops (also inside tf.cond branches) of a traced sparse step whose outputs have the table's row count."""
    table = tf.Variable(tf.zeros([BIG_ROWS, COLUMNS], tf.float64), name="item_embedding")

    @tf.function
    def step(values, indices):
        grad = tf.IndexedSlices(values, indices, tf.constant([BIG_ROWS, COLUMNS]))
        optimizer.apply_gradients([(grad, table)])

    concrete = step.get_concrete_function(tf.TensorSpec([None, COLUMNS], tf.float64), tf.TensorSpec([None], tf.int32))
    found, graphs, visited = [], [concrete.graph], set()
    while graphs:
        graph = graphs.pop()
        for op in graph.get_operations():
            if any(out.shape.rank and BIG_ROWS in out.shape.as_list() for out in op.outputs):
                found.append(f"{op.type}:{op.name}")
        for function in getattr(graph, "_functions", {}).values():
            nested = getattr(function, "graph", None)
            if nested is not None and id(nested) not in visited:
                visited.add(id(nested))
                graphs.append(nested)
    return found


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_sparse_step_cost_does_not_grow_with_the_table(name):
    # Structural check of "per-step cost independent of table size": no op of the step (telemetry branch included)
    # produces a tensor with the table's row count. tf-keras's Adam, which decays every row, is the positive control.
    optimizer = make_optimizer(name, 0.1)
    optimizer.enable_telemetry(1)
    assert table_sized_ops(optimizer) == []
    assert table_sized_ops(split_optimizer(make_optimizer(name, 0.1), make_optimizer("adagrad", 0.1))) == []
    assert table_sized_ops(tf.keras.optimizers.Adam(0.1))


@pytest.mark.parametrize("name", ["clippy", "agc", "clippy_adam"])
def test_xla_update_path_matches(name):
    # On GPUs tf-keras compiles each variable's update_step with XLA (jit_compile); force that path on CPU.
    results = []
    for jit_compile in (False, True):
        optimizer = make_optimizer(name, 0.3, export_clipping_factors=True)
        optimizer.jit_compile = jit_compile
        optimizer.enable_telemetry(1)
        dense, table = tf.Variable(initial_table()[:4]), tf.Variable(initial_table())

        @tf.function
        def step(optimizer=optimizer, dense=dense, table=table):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.sin(dense) ** 2) + tf.reduce_sum(tf.gather(table, INDICES) ** 3)
            grads = tape.gradient(loss, [dense, table])
            optimizer.apply_gradients(zip(grads, [dense, table]))

        for _ in range(3):
            step()
        results.append((dense.numpy(), table.numpy(), optimizer.telemetry_snapshot()[1]))
    (dense, table, records), (xla_dense, xla_table, xla_records) = results
    np.testing.assert_allclose(xla_dense, dense, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(xla_table, table, rtol=1e-12, atol=1e-15)
    assert [r["step"] for r in xla_records] == [r["step"] for r in records] == [2, 2]
    np.testing.assert_allclose([r["sigma"] for r in xla_records], [r["sigma"] for r in records], rtol=1e-6)
