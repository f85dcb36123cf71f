"""The log format, the project's published contract: field table, line reader, parser/validator and tf.Example
encoder, and the curated TFDV schema derived from it. Pure Python + TensorFlow protos; no TFX components."""
