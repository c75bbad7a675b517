"""Read and write IDX files, the format of the MNIST distribution.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type,
``NN`` the number of dimensions), ``NN`` big-endian uint32 dimension sizes, then
the elements in row-major order, big-endian. MNIST ships them gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DeepinitError

# IDX type code -> big-endian numpy dtype.
_CODE_TO_DTYPE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_REFETCH = "download the file again"


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip data (detected by content, not by name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DeepinitError(f"cannot read IDX file {path}: {exc.strerror or exc}; check the path") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile is an OSError; a truncated stream raises EOFError.
        reason = "truncated gzip data" if isinstance(exc, EOFError) else f"corrupt gzip data ({exc})"
        raise DeepinitError(f"cannot read IDX file {path}: {reason}; {_REFETCH}") from None


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return ``(dtype, shape, header_length)`` from the IDX header in ``data``."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _CODE_TO_DTYPE or data[3] == 0:
        raise DeepinitError(
            f"{path} is not an IDX file (magic number {data[:4].hex() or 'missing'}); "
            f"give an IDX file such as t10k-images-idx3-ubyte.gz, or {_REFETCH}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DeepinitError(f"IDX file {path} is truncated inside its header; {_REFETCH}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    return _CODE_TO_DTYPE[data[2]], shape, header


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    numpy.ndarray
        Shape as stored in the header (e.g. (10000, 28, 28) for MNIST images),
        dtype the native-endian version of the stored type (uint8 for MNIST).
        A fresh, writable array.

    Raises
    ------
    DeepinitError
        Unreadable file, bad gzip data, not an IDX file, or a data size that
        does not match the header (truncated or trailing bytes).
    """
    path = Path(path)
    data = _read_bytes(path)
    dtype, shape, header = _parse_header(path, data)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise DeepinitError(
            f"IDX file {path} is {what}: header shape {shape} needs {expected} data bytes, "
            f"found {actual}; {_REFETCH}"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or path-like
    array : numpy.ndarray
        At least 1-D, of dtype uint8, int8, int16, int32, float32 or float64.
        The gzip header carries no timestamp, so equal arrays give equal files.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _CODE_TO_DTYPE.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DeepinitError(f"IDX cannot store dtype {array.dtype}; convert to one of {sorted(map(str, codes))}")
    if not 1 <= array.ndim <= 255 or any(n >= 2**32 for n in array.shape):
        raise DeepinitError(f"IDX cannot store an array of shape {array.shape}; give 1 to 255 dimensions")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(payload)
    else:
        path.write_bytes(payload)
