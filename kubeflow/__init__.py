"""Kubeflow Pipelines V2: compile create_pipeline() for Vertex AI / open-source KFP; TF Serving manifests."""
