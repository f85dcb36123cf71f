"""Serving: export of a version in TF Serving's layout (warm-up, models.config, atomic publish), the model-server
launcher, and the client side: log records as examples, in-process prediction, the REST client, signature metadata
and the command line's rendering."""
