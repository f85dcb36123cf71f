"""The top: create_pipeline() shared by every runner, the local runner, the CLI, MLMD readers."""
