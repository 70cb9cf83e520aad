"""Where an image's bytes come from: a file, or one row of a parquet shard -- one small interface for both.

Every image the runner scores is named by a string **image id** (``ImageRecord.path``):

* a file path (``/data/forensynths/progan/airplane/0_real/00001.png``), or
* a parquet member ``<shard path>#<column>=<row>`` (``/data/commfor-eval/data/test-00003-of-00042.parquet#image=17``):
  row ``row`` (0-based, counted over the whole shard, before any ``where`` filter) of the image column ``column``.

The id is stable (it depends only on where the image is stored) and goes into ``predictions.csv``; the content id is
the sha256 of the image's encoded bytes (:func:`content_sha256`), the same for a file and for the same bytes stored in
a parquet row, so the prediction cache, resume and torchrun sharding (which all key on the sha256) treat both alike.

Functions: :func:`is_member`, :func:`member_id`, :func:`parse_member`, :func:`read_bytes`, :func:`open_binary`,
:func:`content_sha256`, :func:`is_regular`, :func:`locality_key`. Parquet rows are read a row group at a time
through a per-process LRU bounded in bytes (:data:`ROW_GROUP_CACHE`), so memory stays bounded whatever the shard
size.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
from collections import OrderedDict
from typing import Any, BinaryIO

from fakebench.core.files import sha256_bytes, sha256_file

__all__ = ["is_member", "member_id", "parse_member", "read_bytes", "open_binary", "content_sha256", "is_regular",
           "locality_key", "ROW_GROUP_CACHE", "LOCALITY_ROWS"]

_MEMBER = re.compile(r"^(?P<shard>.+\.parquet)#(?P<column>[^#=/]+)=(?P<row>\d+)$")
#: Bytes of decoded row groups kept per process (``FAKEBENCH_PARQUET_CACHE_MB``, default 512 MB; at least the row
#: group in use is always kept). Each entry is one image column of one row group (the hub writes ~100 images each).
ROW_GROUP_CACHE = int(float(os.environ.get("FAKEBENCH_PARQUET_CACHE_MB", "512")) * 2**20)
#: Rows of a shard that :func:`locality_key` keeps together (a few row groups: they fit the cache).
LOCALITY_ROWS = 1024


def member_id(shard: str | os.PathLike, column: str, row: int) -> str:
    """The image id of row ``row`` of ``column`` in parquet ``shard``.

    >>> member_id("/d/a.parquet", "image", 7)
    '/d/a.parquet#image=7'
    """
    return f"{os.fspath(shard)}#{column}={int(row)}"


def parse_member(image_id: str) -> tuple[str, str, int] | None:
    """``(shard, column, row)`` of a parquet member id, or ``None`` for a file path.

    >>> parse_member("/d/a.parquet#image=7")
    ('/d/a.parquet', 'image', 7)
    >>> parse_member("/d/a.png") is None
    True
    """
    match = _MEMBER.match(os.fspath(image_id))
    if match is None or os.path.lexists(image_id):  # a real file whose name merely looks like a member
        return None
    return match["shard"], match["column"], int(match["row"])


def is_member(image_id: str) -> bool:
    """True when ``image_id`` names a parquet row rather than a file."""
    return parse_member(image_id) is not None


class _RowGroups:
    """Per-process, thread-safe LRU of decoded row groups: ``(shard, column, group) -> list of bytes``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: OrderedDict[tuple[str, str, int], tuple[list[Any], int]] = OrderedDict()
        self._bytes = 0
        self._offsets: dict[str, list[int]] = {}

    def _locate(self, shard: str, row: int) -> tuple[int, int]:
        import pyarrow.parquet as pq

        offsets = self._offsets.get(shard)
        if offsets is None:
            meta = pq.ParquetFile(shard).metadata
            offsets = [0]
            for g in range(meta.num_row_groups):
                offsets.append(offsets[-1] + meta.row_group(g).num_rows)
            self._offsets[shard] = offsets
        if not 0 <= row < offsets[-1]:
            raise IndexError(f"row {row} is outside the shard's {offsets[-1]} rows")
        group = next(g for g in range(len(offsets) - 1) if offsets[g] <= row < offsets[g + 1])
        return group, row - offsets[group]

    def get(self, shard: str, column: str, row: int) -> bytes:
        import pyarrow.parquet as pq

        with self._lock:
            group, offset = self._locate(shard, row)
            key = (shard, column, group)
            entry = self._groups.get(key)
            if entry is None:
                table = pq.ParquetFile(shard).read_row_group(group, columns=[column])
                values = image_bytes_column(table.column(0), column, shard)
                size = sum(len(v) for v in values if v is not None)
                self._groups[key] = (values, size)
                self._bytes += size
                while len(self._groups) > 1 and self._bytes > ROW_GROUP_CACHE:
                    _, (_, dropped) = self._groups.popitem(last=False)
                    self._bytes -= dropped
            else:
                values = entry[0]
                self._groups.move_to_end(key)
        value = values[offset]
        if value is None:
            raise ValueError(f"row {row} has no image bytes (null)")
        return value


_CACHE = _RowGroups()


def image_bytes_column(column: Any, name: str, shard: str) -> list[bytes | None]:
    """The encoded images of a pyarrow column: ``binary``/``large_binary`` values, or the hub ``Image`` feature (a
    struct whose ``bytes`` field holds them).

    Raises:
        ValueError: any other column type (naming the shard, the column and its type).
    """
    import pyarrow as pa

    kind = column.type
    if pa.types.is_struct(kind):
        if kind.get_field_index("bytes") < 0:
            raise ValueError(f"{shard}: column {name!r} is a struct without a 'bytes' field ({kind}); name the "
                             f"column that holds the encoded images in the manifest's parquet.image")
        column = pa.chunked_array([c.field("bytes") for c in column.chunks], type=kind.field("bytes").type) \
            if isinstance(column, pa.ChunkedArray) else column.field("bytes")
        kind = column.type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        raise ValueError(f"{shard}: column {name!r} holds {kind}, not encoded image bytes; name the image-bytes column "
                         f"in the manifest's parquet.image")
    return column.to_pylist()


def read_bytes(image_id: str) -> bytes:
    """The encoded bytes of an image (a file's content, or a parquet row's image cell).

    Raises:
        OSError: the file or shard cannot be read, the row does not exist, or the cell is null / not bytes (the
            message names the image id).
    """
    member = parse_member(image_id)
    if member is None:
        with open(image_id, "rb") as handle:
            return handle.read()
    shard, column, row = member
    try:
        return _CACHE.get(shard, column, row)
    except FileNotFoundError as exc:
        raise OSError(f"{image_id}: parquet shard {shard} not found") from exc
    except Exception as exc:  # pyarrow errors, a missing column, a bad row: one unreadable image, never a crash
        raise OSError(f"{image_id}: cannot read the parquet row ({type(exc).__name__}: {exc})") from exc


def open_binary(image_id: str) -> BinaryIO:
    """A binary stream of the image's encoded bytes (an open file, or a ``BytesIO`` of a parquet cell)."""
    if parse_member(image_id) is None:
        return open(image_id, "rb")
    return io.BytesIO(read_bytes(image_id))


def content_sha256(image_id: str) -> str:
    """Hex sha256 of the image's encoded bytes (of the file, or of the parquet cell).

    Raises:
        OSError: unreadable (see :func:`read_bytes`).
    """
    if parse_member(image_id) is None:
        return sha256_file(image_id)
    return sha256_bytes(read_bytes(image_id))


def locality_key(image_id: str) -> tuple[str, int]:
    """A sort key that keeps rows of the same shard region together (``("", 0)`` for files): sort by
    ``(locality_key, size)`` instead of size alone, so parquet rows are read a few row groups at a time instead of
    jumping across the shard (``tools/bench_parquet.py``: shuffled rows decode 16x slower than rows in order when
    the row groups do not fit the cache)."""
    member = parse_member(image_id)
    return ("", 0) if member is None else (member[0], member[2] // LOCALITY_ROWS)


def is_regular(image_id: str) -> bool:
    """False only for a path that exists but is not a regular file (FIFO, socket, device, folder): such files are
    never opened. Parquet members and missing files are 'regular' here (reading them reports what is wrong)."""
    if parse_member(image_id) is not None:
        return True
    try:
        return stat.S_ISREG(os.stat(image_id).st_mode)
    except OSError:
        return True
