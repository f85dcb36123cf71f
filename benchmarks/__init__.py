"""Speed and scale measurements (`make bench`). `python -m benchmarks.<name>` is an entry point: Keras 2 is selected
here, before any benchmark imports TensorFlow."""

from config.runtime import select_keras2

select_keras2()
