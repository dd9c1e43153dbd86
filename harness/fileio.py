"""Atomic writes and content hashing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator


_UMASK_LOCK = threading.Lock()


def default_file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (e.g. 0o644 for umask 022)."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    The file gets the mode an ordinary ``open()`` would give it under the user's umask (``mkstemp`` creates 0600,
    which collaborators on a shared filesystem could not read).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as pretty JSON, atomically."""
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.ASCII | re.IGNORECASE)


def parse_decimal(text: str) -> float:
    """A number as C's ``strtod`` reads a decimal one (``1``, ``-2.5``, ``.5e3``, ``inf``); ValueError for anything
    else, including the digit separators (``1_0``) and non-ASCII digits that Python's ``float()`` also accepts."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_error(e: json.JSONDecodeError) -> str:
    """``malformed JSON (<what> at column N)``; json's own messages may end in "at" already ("Unterminated string
    starting at"), which then reads "... starting at column N"."""
    where = "column" if e.msg.endswith(" at") else "at column"
    return f"malformed JSON ({e.msg} {where} {e.colno})"


def json_object(path: str | os.PathLike, no: int, line: str) -> dict:
    """One JSON-lines line as an object; anything else is a DataError naming the file and line."""
    from .errors import DataError

    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{no}: {json_error(e)}") from None
    except RecursionError:
        raise DataError(f"{path}:{no}: malformed JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
    if _LONE_SURROGATE_ESCAPE.search(line):  # "\ud800" alone is valid JSON but no character: it cannot be written back
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"{path}:{no}: malformed JSON (a \\u escape of a lone surrogate, not a character)") from None
    return obj


def utf8_lines(path: str | os.PathLike, on_bytes: Callable[[bytes], Any] | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of a UTF-8 text file, lines ending at ``\n`` (trailing ``\r`` and ``\n``
    removed); a missing file or a byte sequence that is not UTF-8 is a DataError naming the file (and line).
    ``on_bytes`` sees every line's raw bytes (e.g. to hash the file while reading it)."""
    from .errors import DataError

    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"missing file: {path}") from None
    with fh:
        for no, raw in enumerate(fh, start=1):
            if on_bytes is not None:
                on_bytes(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{no}: {_utf8_error(raw, e)}") from None
            yield no, line.rstrip("\r\n")


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file; not UTF-8 is a DataError naming the file and line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        from .errors import DataError

        no, line_start = data.count(b"\n", 0, e.start) + 1, data.rfind(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{no}: {_utf8_error(data, e, line_start)}") from None


def _utf8_error(data: bytes, e: UnicodeDecodeError, line_start: int = 0) -> str:
    return f"not valid UTF-8 ({e.reason}: byte 0x{data[e.start]:02x} at column {e.start - line_start + 1})"


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file."""
    for no, line in utf8_lines(path):
        if line.strip():
            yield no, json_object(path, no, line)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """One JSON object per line, atomically."""
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]

