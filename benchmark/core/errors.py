"""Exception types that carry a user-facing message.

Every error a user can fix (a bad path, a corrupt checkpoint, a missing download) is a :class:`FakebenchError`. Its
message is one or two sentences that name the file or field at fault and say what to do. The CLI prints it as one
line without a traceback; library users can catch the specific subclass.
"""

from __future__ import annotations

__all__ = [
    "FakebenchError",
    "UnknownNameError",
    "CheckpointError",
    "WeightsNotFoundError",
    "ManifestError",
    "DataError",
    "DownloadError",
    "UnknownOptionError",
]


class FakebenchError(Exception):
    """Base class of every error with an actionable message."""


class UnknownNameError(FakebenchError, KeyError):
    """A detector, dataset, weights tag or preset name is not registered.

    Subclasses :class:`KeyError` so that ``except KeyError`` keeps working for mapping-style lookups.
    """

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class CheckpointError(FakebenchError):
    """A checkpoint file cannot be read, or its tensors do not match the model (missing, unexpected or mis-shaped
    keys), or its sha256 differs from the expected one."""


class WeightsNotFoundError(FakebenchError):
    """Weights are neither on disk nor downloadable (offline, or the source is unreachable)."""


class ManifestError(FakebenchError):
    """A dataset manifest file is malformed; the message names the file, the entry and the field."""


class DataError(FakebenchError):
    """An image folder is missing, empty or not in a supported layout."""


class DownloadError(FakebenchError):
    """A download failed (HTTP error, quota-limited Drive file, checksum mismatch after retry, unsafe archive)."""


class UnknownOptionError(FakebenchError, TypeError):
    """A detector option (``-O KEY=VALUE``, ``load_detector(**options)``) the detector's ``load()`` does not take;
    the message lists the ones it does. Subclasses :class:`TypeError`, what Python raises for an unexpected keyword."""
