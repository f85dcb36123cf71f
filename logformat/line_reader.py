"""Reading untrusted log files line by line with bounded memory.

A log line is untrusted: a single 10 GB "line" must not be read into memory before the parser can call it
oversized. `read_bounded_lines` keeps at most `max_line_bytes + 1` bytes of any line (enough for the parser to
see that it is too long) and reports the line's full length, reading the file in fixed-size chunks.

`open_log` opens a log file through Beam's filesystem layer (local paths, gs://, s3://, hdfs://) and
decompresses `.gz` files with Python's gzip module, which, unlike a lenient decoder, raises on a truncated or
corrupt stream, so such a file is reported (quarantined as `unreadable_file`) rather than silently cut short.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK_BYTES = 1 << 20
# What reading a damaged file can raise (truncated gzip: EOFError; not gzip: BadGzipFile, an OSError;
# corrupt deflate data: zlib.error).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def read_bounded_lines(
    handle: BinaryIO, max_line_bytes: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, bytes, int]]:
    """Yields (line number from 1, the line's first max_line_bytes + 1 bytes, the line's full length in bytes).

    Lines end at b"\\n"; one trailing b"\\r" is removed (CRLF files). As for Beam's text source, a final line
    without a newline counts and a file ending in a newline has no extra empty line. Memory use is bounded by
    `chunk_bytes + max_line_bytes`, whatever the line lengths.
    """
    if max_line_bytes < 0 or chunk_bytes < 1:
        raise ValueError(f"max_line_bytes must be >= 0 and chunk_bytes >= 1, got {max_line_bytes}, {chunk_bytes}")
    keep = max_line_bytes + 2  # one byte more than the parser's limit, plus a possible trailing \r
    # read1: whatever one decompression step gives, so the lines before a damaged part of a gzip stream are
    # yielded before the error (read(n) would discard them while filling n bytes).
    read = getattr(handle, "read1", handle.read)
    number, kept, size, last = 0, bytearray(), 0, -1  # the line that runs on from one chunk into the next
    while chunk := read(chunk_bytes):
        start = 0
        if size:  # finish the line started in an earlier chunk
            end = chunk.find(b"\n")
            stop = len(chunk) if end < 0 else end
            if stop > 0:
                kept += chunk[: min(stop, max(0, keep - len(kept)))]
                size += stop
                last = chunk[stop - 1]
            if end < 0:
                continue
            number += 1
            yield _finish(number, kept, size, last, max_line_bytes)
            kept, size, last = bytearray(), 0, -1
            start = end + 1
        # Lines that end inside this chunk (the common case): one slice each.
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            line, length = chunk[start : min(end, start + keep)], end - start
            if length and chunk[end - 1] == 13:  # CRLF: the \r is not part of the line
                if len(line) == length:
                    line = line[:-1]
                length -= 1
            yield number, line[: max_line_bytes + 1], length
            start = end + 1
        if start < len(chunk):  # a line that goes on in the next chunk (or ends the file)
            kept = bytearray(chunk[start : start + keep])
            size = len(chunk) - start
            last = chunk[-1]
    if size:
        yield _finish(number + 1, kept, size, last, max_line_bytes)


def _finish(number: int, kept: bytearray, size: int, last: int, max_line_bytes: int) -> tuple[int, bytes, int]:
    if last == ord("\r"):  # CRLF: the \r is not part of the line
        if len(kept) == size:
            kept = kept[:-1]
        size -= 1
    return number, bytes(kept[: max_line_bytes + 1]), size


@contextmanager
def open_log(path: str) -> Iterator[BinaryIO]:
    """A binary handle on the decompressed content of a log file (`.gz`: gzip; anything else: as is)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if path.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped
        else:
            yield raw
