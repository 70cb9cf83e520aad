"""Analysis of saved predictions: confidence intervals, paired tests, operating points, calibration, robustness
sweeps and the format/size bias audit. Works from ``predictions.csv`` files (no model work) except the robustness
sweep, which scores perturbed images through the same runner and cache."""
