"""Small files kept next to the index: the term statistics and the article model.

Written after each ingest and read when a searcher opens (and again when they change). The location is
a local directory or an object store URI (``s3://bucket/kb``): locally a file is replaced atomically
(temp file + rename); on object storage a single PUT replaces the object atomically, so a reader on
another machine gets either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

Location = Path | str  # a local directory, or an object store URI such as s3://bucket/kb
Marker = tuple[int, int]  # (modification time in ns, size)


def is_uri(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


def write_file(location: Location, name: str, data: bytes) -> None:
    if is_uri(location):
        fs, path = _object_store(str(location), name)
        with fs.open_output_stream(path, compression=None) as stream:
            stream.write(data)
        return
    target = Path(location) / name
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind; the old one stays
        raise


def read_file(location: Location, name: str) -> bytes | None:
    """The file's bytes, None when there is none."""
    if is_uri(location):
        fs, path = _object_store(str(location), name)
        try:
            with fs.open_input_stream(path, compression=None) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            return None
    file = Path(location) / name
    return file.read_bytes() if file.exists() else None


def remove_file(location: Location, name: str) -> None:
    if is_uri(location):
        fs, path = _object_store(str(location), name)
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)
        return
    (Path(location) / name).unlink(missing_ok=True)


def file_marker(location: Location, name: str) -> Marker | None:
    """(modification time in ns, size) of the stored file, None if absent: tells a reader to reload."""
    if is_uri(location):
        import pyarrow.fs as pafs

        fs, path = _object_store(str(location), name)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None
        return (info.mtime_ns or 0, info.size or 0)
    try:
        st = (Path(location) / name).stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _object_store(uri: str, name: str) -> tuple[Any, str]:
    """The pyarrow filesystem for ``uri`` (credentials and endpoint from the standard AWS_* variables)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(uri.rstrip("/"))
    return fs, f"{root.rstrip('/')}/{name}"
