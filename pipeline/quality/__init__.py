"""The quality report: the ranker against simple models and the world's ceiling, calibration and staleness.

`ranker quality --pipeline-root DIR` (command.py) and the quality section of `ranker history --quality`.
sources.py reads a run's models and spans from MLMD, examples.py the examples, scoring.py scores SavedModels,
baselines.py fits the scikit-learn models, metrics.py has the AUC, RMSE, paired bootstrap and calibration,
staleness.py scores the model on later generated days, report.py assembles, render.py and plots.py present, by_day.py
is the history's section.
"""
