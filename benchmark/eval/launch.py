"""Past one machine: a matrix's (detector, data selection) pairs as a Slurm job array, through submitit.

``fakebench run CONFIG --launcher submitit`` validates and plans the whole config here (pairs whose results already
exist and match are skipped, as in :func:`fakebench.eval.matrix.run_matrix`), submits every remaining pair as one
job of a job array (``executor.batch()``; submitit's ``AutoExecutor``: Slurm where ``sbatch`` exists, else local
processes), waits, and writes the leaderboard over every ran or skipped pair, with the existing
:func:`fakebench.eval.leaderboard.write_leaderboard`.

Each job (:class:`PairJob`) re-reads the config (so plugins are imported in the job's process), and runs exactly its
pair with :func:`~fakebench.eval.matrix.run_matrix` (``only=...``, no leaderboard). It is resumable twice over:

* a job that is preempted or reaches its time limit is requeued by submitit (:meth:`PairJob.checkpoint`) and goes
  on from the rows already in the pair's ``predictions.csv`` (the runner's resume);
* a job that was killed, or a launch that was interrupted, is resumed by running the same command again: finished
  pairs are skipped, started ones resume from their ``predictions.csv``.

Needs ``pip install "fakebench[scale]"`` (submitit). Source: submitit (facebookincubator/submitit) ``AutoExecutor``,
``executor.batch()``, ``helpers.DelayedSubmission`` for checkpointing.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

from fakebench.core.errors import FakebenchError

__all__ = ["PairJob", "run_matrix_submitit"]

log = logging.getLogger(__name__)


def _load(source: str | os.PathLike | Mapping[str, Any], base: str | None) -> Any:
    from fakebench.eval.matrix import load_config, parse_config

    if isinstance(source, Mapping):
        return parse_config(dict(source), base=base)
    return load_config(source)


class PairJob:
    """The callable of one submitit job: run pair ``(detector index, data index)`` of a config.

    Called as ``PairJob()(source, base, det_index, data_index)`` with ``source`` a config path or mapping (``base``:
    the folder relative paths of a mapping are resolved against). Returns ``{"status", "run_dir", "error",
    "computed", "seconds"}`` of the pair.
    """

    def __call__(self, source: Any, base: str | None, det_index: int, data_index: int) -> dict[str, Any]:
        from fakebench.eval.matrix import run_matrix

        config = _load(source, base)
        report = run_matrix(config, progress=False, only={(det_index, data_index)}, leaderboard=False)
        pair = next(p for p in report.pairs if p.detector.index == det_index and p.data.index == data_index)
        return {"status": pair.status, "run_dir": str(pair.run_dir) if pair.run_dir else None, "error": pair.error,
                "computed": pair.computed, "seconds": pair.seconds}

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's preemption/timeout hook: requeue the same call; the runner resumes from ``predictions.csv``."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def run_matrix_submitit(config: str | os.PathLike | Mapping[str, Any], *, folder: str | os.PathLike | None = None,
                        cluster: str | None = None, parameters: Mapping[str, Any] | None = None,
                        base: str | os.PathLike | None = None, dry_run: bool = False) -> Any:
    """Run a matrix config with one submitit job per pair to run, then write its leaderboard.

    Args:
        config: a YAML path, or a config mapping (relative paths against ``base``, default the current folder).
        folder: submitit's folder for job scripts and logs (default ``<output>/submitit``).
        cluster: ``None`` (auto: Slurm when available, else local), ``"slurm"``, ``"local"`` or ``"debug"`` (in
            this process).
        parameters: executor parameters, e.g. ``{"timeout_min": 240, "slurm_partition": "gpu",
            "gpus_per_node": 1, "cpus_per_task": 8, "slurm_array_parallelism": 16}``.
        dry_run: validate and plan only.

    Returns:
        The :class:`~fakebench.eval.matrix.MatrixReport` (pairs ``ran``/``skipped``/``failed``; a failed job's
        error names the job id and its log folder).

    Raises:
        MatrixConfigError: the config is invalid (nothing was submitted).
        FakebenchError: submitit is not installed.
    """
    try:
        import submitit
    except ImportError as exc:
        raise FakebenchError('The submitit launcher needs submitit: pip install "fakebench[scale]" (or pip install '
                             'submitit).') from exc
    from fakebench.eval.matrix import MatrixReport, _describe, _write_leaderboard, plan_matrix

    base_text = str(Path(base or os.getcwd()).resolve()) if isinstance(config, Mapping) else None
    source: Any = dict(config) if isinstance(config, Mapping) else str(Path(config).resolve())
    cfg = _load(source, base_text)
    pairs = plan_matrix(cfg)
    report = MatrixReport(cfg, pairs)
    todo = [p for p in pairs if p.status == "planned"]
    if dry_run or not todo:
        if not dry_run:
            _write_leaderboard(report)
        return report
    executor = submitit.AutoExecutor(folder=str(folder or cfg.output / "submitit"), cluster=cluster)
    executor.update_parameters(name="fakebench-run", **dict(parameters or {}))
    start = time.perf_counter()
    with executor.batch():  # one job array
        jobs = [executor.submit(PairJob(), source, base_text, p.detector.index, p.data.index) for p in todo]
    log.info("submitted %d jobs: %s", len(jobs), ", ".join(str(j.job_id) for j in jobs))
    for pair, job in zip(todo, jobs):
        try:
            out = job.result()
        except Exception as exc:  # noqa: BLE001 -- a failed job is one failed pair
            pair.status, pair.error = "failed", f"job {job.job_id} ({Path(str(job.paths.stderr)).parent}): " \
                                                f"{_describe(exc)}"
            continue
        pair.status, pair.error, pair.computed = out["status"], out["error"], out["computed"]
        pair.run_dir = Path(out["run_dir"]) if out["run_dir"] else None
        pair.seconds = out["seconds"]
    log.info("%d jobs done in %.1fs", len(jobs), time.perf_counter() - start)
    _write_leaderboard(report)
    return report
