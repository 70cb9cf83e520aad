"""Plots and a self-contained HTML report from run folders (``fakebench report``).

:func:`write_report` reads run folders (``results.json`` + ``predictions.csv``, as
:func:`fakebench.eval.harness.run_evaluation` writes them), optional ``robustness.json`` and ``bias_audit.json``
files, and writes one ``report.html`` that opens offline (figures inline as base64 PNG, data inline as JSON) plus
every figure as PNG and SVG under ``figures/``. Needs matplotlib (the ``report`` extra).
"""

from fakebench.report.build import build_report, thumbnail, write_report
from fakebench.report.data import collect_inputs

__all__ = ["write_report", "build_report", "collect_inputs", "thumbnail"]
