"""Generation: the Beam job that writes the synthetic world's impression logs, one gzipped JSON-lines file per
(day, shard), and its summary (generation.json). components/log_generator.py runs it as the TFX component LogGen."""
