"""Everything that runs inside Transform and the Trainer: features, preprocessing_fn, the ranker, optimizers/,
the trainer run_fn, the divergence detector."""
