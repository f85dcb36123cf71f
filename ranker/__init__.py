"""The top of the house: the `ranker` command line, which dispatches to the pipeline, Kubeflow compile, the lab
and the serving tools. Nothing imports it."""
