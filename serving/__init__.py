"""Serving: export of a version in TF Serving's layout (warm-up, models.config, atomic publish), the REST/in-process
client and the model-server launcher."""
