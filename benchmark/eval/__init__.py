"""Evaluation: the runner that collects per-image predictions (with its content cache), the pure scorer that turns
predictions into metrics, the results schema, result tables and leaderboards, and the harness that ties one detector
to its test sets and writes a run folder."""
