"""The zoo study: which spectral statistic predicts which robustness, across models.

statistics   per model, the spectral statistics a forecast could use (pure)
correlation  Spearman rank correlations with bootstrap intervals (pure numpy)
table        audits -> one row per model -> the correlation table (ZooResult)
calibration  the bundled study's table, and the forecasts the findings make from it
"""
