"""Helpers shared by the CLI commands: option parsing and turning library errors into one-line messages."""

from __future__ import annotations

import os

import functools
import importlib
from typing import Any, Callable

import click

from fakebench.core.errors import FakebenchError

__all__ = ["user_errors", "parse_crop_box", "parse_key_values", "import_plugins", "training_data_options",
           "image_failure", "require_extra", "require_detector_extras", "resolve_device", "DEVICE_HELP",
           "n_boot_option", "label_option"]

#: The --device help shared by every command (default ``auto``).
DEVICE_HELP = "torch device: auto (CUDA when present, else the CPU), cpu, cuda or cuda:1."


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: a :class:`~fakebench.core.errors.FakebenchError` (or a bad env var) becomes a one-line
    ``click.ClickException`` instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FakebenchError as exc:
            raise click.ClickException(str(exc)) from exc
        except ValueError as exc:
            if "Expected FAKEBENCH_" in str(exc) or "Expected HF_HUB_" in str(exc):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper


def parse_crop_box(value: str | None) -> tuple[int, int, int, int] | None:
    """``"50,50,306,306"`` -> ``(50, 50, 306, 306)``.

    Raises:
        click.BadParameter: not four integers with left < right and top < bottom.
    """
    if not value:
        return None
    try:
        box = tuple(int(v) for v in value.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or box[0] >= box[2] or box[1] >= box[3]:
        raise click.BadParameter(f"expected LEFT,TOP,RIGHT,BOTTOM integers (e.g. 50,50,306,306), got {value!r}")
    return box  # type: ignore[return-value]


def parse_key_values(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("backbone=/x.pt",)`` -> ``{"backbone": "/x.pt"}``.

    Raises:
        click.BadParameter: an item without ``=``.
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = value
    return out


def import_plugins(modules: tuple[str, ...]) -> None:
    """Import user modules that register detectors (``--plugin my_pkg.my_detector``).

    Raises:
        click.ClickException: a module cannot be imported.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise click.ClickException(f"Cannot import plugin module {name!r}: {exc}. Is it on PYTHONPATH?") from exc


def training_data_options(role: str = "training") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The three ways to name labelled images, shared by the trainers: ``--train-dir`` (a ``0_real``/``1_fake``
    root), ``--real-dir`` and ``--fake-dir`` (plain folders); each repeatable (parameters ``train_dirs``,
    ``real_dirs``, ``fake_dirs``)."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        folder = click.Path(file_okay=False)
        for flag, dest, text in reversed((
                ("--train-dir", "train_dirs", f"{role.capitalize()} root in the 0_real/1_fake layout (generator/class "
                                              f"subfolders allowed; repeatable)."),
                ("--real-dir", "real_dirs", f"Folder of real {role} images (any tree; repeatable)."),
                ("--fake-dir", "fake_dirs", f"Folder of fake {role} images (any tree; repeatable)."))):
            command = click.option(flag, dest, multiple=True, type=folder, help=text)(command)
        return command
    return decorate


def image_failure(path: str, detector_name: str, exc: BaseException) -> str:
    """The one-line error of an image a detector fails on, worded as the runner's ``error`` column:
    ``"<path>: <detector> failed on this image (<ExceptionType>: <first line, at most 300 characters>)"``."""
    reason = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{path}: {detector_name} failed on this image ({type(exc).__name__}: {reason})"


def require_extra(extra: str, modules: tuple[str, ...], what: str) -> None:
    """Refuse, before any work starts, a command part whose optional dependencies are not installed.

    Args:
        extra: the setup.cfg extra that installs them (``report``, ``explain``, ``afp``, ``train``).
        modules: their import names (``matplotlib``, ``transformers``, ...).
        what: what needs them, for the message (``"fakebench report"``, ``"--html"``).

    Raises:
        click.ClickException: one line naming the missing modules and ``pip install "fakebench[<extra>]"``.
    """
    import importlib.util

    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise click.ClickException(f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                                   f"not installed: pip install \"fakebench[{extra}]\"")


def require_detector_extras(names: Any) -> None:
    """:func:`require_extra` for each registered detector in ``names`` whose card declares an extra (AntifakePrompt,
    InstructBLIP: ``afp``).

    Raises:
        click.ClickException: a missing extra (one line); UnknownNameError: an unknown detector.
    """
    from fakebench import detectors

    for name in [names] if isinstance(names, str) else names:
        card = detectors.REGISTRY.card(name)  # without importing the detector (its module may need the extra)
        if getattr(card, "extra", "") and getattr(card, "requires", ()):
            require_extra(card.extra, tuple(card.requires), f"detector {name!r}")


def resolve_device(device: str | None) -> str:
    """``"auto"`` (or ``None``) -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; any other value unchanged.

    On a machine with no NVIDIA driver (no ``/proc/driver/nvidia``, no ``/dev/nvidiactl``) the answer is ``"cpu"``
    without importing torch, so a run served from the cache stays torch-free; elsewhere torch decides.
    """
    if device not in (None, "", "auto"):
        return str(device)
    import sys

    if "torch" not in sys.modules and not any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl")):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


#: Fewest bootstrap resamples any command accepts. Percentile and BCa interval ends are tail quantiles of the
#: resampling distribution; from a few dozen resamples they move by whole points between seeds (Efron &
#: Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 19: about 1,000 for interval ends, far fewer only for
#: a standard error).
MIN_N_BOOT = 200


class NBoot(click.ParamType):
    """Click type of every ``--n-boot``: an int >= :data:`MIN_N_BOOT`, or 0 (bootstrap off) where ``allow_off``."""

    name = "integer"

    def __init__(self, allow_off: bool = False) -> None:
        self.allow_off = allow_off

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        number = click.INT.convert(value, param, ctx)
        if number == 0 and self.allow_off:
            return 0
        if number < MIN_N_BOOT:
            off = " or 0 (no bootstrap)" if self.allow_off else ""
            self.fail(f"{number} resamples is too few: use at least {MIN_N_BOOT}{off}.", param, ctx)
        return number


def n_boot_option(what: str, *, allow_off: bool = False, default: int = 1000) -> Callable[[Callable[..., Any]], Any]:
    """The ``--n-boot`` option, one minimum and one help phrasing for every command.

    ``what`` names what the resamples are for (e.g. ``"the AP confidence interval"``); ``allow_off`` also accepts 0.
    """
    off = "; 0 = no bootstrap" if allow_off else ""
    return click.option("--n-boot", default=default, show_default=True, type=NBoot(allow_off),
                        help=f"Bootstrap resamples for {what} (at least {MIN_N_BOOT}{off}).")


def _check_label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from fakebench.core.errors import DataError
    from fakebench.eval.results import check_run_label

    if value is None:
        return None
    try:
        return check_run_label(value)
    except DataError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


#: ``--label``: a readable run name for tables and reports (checked before any work starts).
label_option = click.option(
    "--label", callback=_check_label,
    help="Readable run name shown in tables, leaderboards and reports instead of name.weights@preset (which stays "
         "in results.json); runs of different detectors given the same label show it with their name.")
