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
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

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
    # read1: whatever one decompression step gives, so the lines before a damaged part of a gzip stream are
    # yielded before the error (read(n) would discard them while filling n bytes).
    read = getattr(handle, "read1", handle.read)
    chunks = ((chunk, True) for chunk in iter(lambda: read(chunk_bytes), b""))
    for number, line, size, _ in bounded_lines(chunks, max_line_bytes):
        yield number, line, size


def bounded_lines(chunks: Iterable[tuple[bytes, bool]], max_line_bytes: int) -> Iterator[tuple[int, bytes, int, bool]]:
    """`read_bounded_lines` over (data, intact) chunks: yields (number, line prefix, full length, intact), where a
    line is intact when none of its bytes came from a chunk flagged not intact."""
    keep = max_line_bytes + 2  # one byte more than the parser's limit, plus a possible trailing \r
    number, kept, size, last = 0, bytearray(), 0, -1  # the line that runs on from one chunk into the next
    kept_intact = True
    for chunk, intact in chunks:
        if not chunk:
            continue
        start = 0
        if size:  # finish the line started in an earlier chunk
            end = chunk.find(b"\n")
            stop = len(chunk) if end < 0 else end
            if stop > 0:
                kept += chunk[: min(stop, max(0, keep - len(kept)))]
                size += stop
                last = chunk[stop - 1]
                kept_intact = kept_intact and intact
            if end < 0:
                continue
            number += 1
            yield (*_finish(number, kept, size, last, max_line_bytes), kept_intact)
            kept, size, last, kept_intact = bytearray(), 0, -1, True
            start = end + 1
        # Lines that end inside this chunk (the common case): one slice each.
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            line, length = chunk[start : min(end, start + keep)], end - start
            if length and chunk[end - 1] == 13:  # CRLF: the \r is not part of the line
                if len(line) == length:
                    line = line[:-1]
                length -= 1
            yield number, line[: max_line_bytes + 1], length, intact
            start = end + 1
        if start < len(chunk):  # a line that goes on in the next chunk (or ends the file)
            kept = bytearray(chunk[start : start + keep])
            size = len(chunk) - start
            last = chunk[-1]
            kept_intact = intact
    if size:
        yield (*_finish(number + 1, kept, size, last, max_line_bytes), kept_intact)


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
                yield cast(BinaryIO, unzipped)
        else:
            yield raw


# -- gzip, member by member, each member's data handed out only once its CRC and length are checked -------------------
#
# Python's gzip module checks a member's CRC-32 and length only at the member's end, after its lines were handed out:
# a flipped bit inside a member became an example. Here each member is inflated (raw deflate) and checked against its
# own trailer; its data is held back until then (up to MEMBER_HOLD_BYTES; a longer member is first checked by a
# separate pass over it from a second handle) and handed out flagged intact or not. What is unchanged: a truncated
# stream or corrupt deflate data raises after the data before the damage (READ_ERRORS: the file is unreadable, the
# lines before are kept, as with Python's gzip); trailing zero padding is ignored; other trailing bytes raise
# BadGzipFile.

MEMBER_HOLD_BYTES = 64 << 20  # decompressed bytes of one member held back until its trailer is checked
_GZIP_MAGIC = b"\x1f\x8b"
_FTEXT, _FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 1, 2, 4, 8, 16


class _Input:
    """Exact reads, with push-back, over a raw binary handle; `offset` is the position of the next unread byte."""

    def __init__(self, raw: BinaryIO, chunk_bytes: int):
        self._raw, self._chunk, self._buffer, self.offset = raw, chunk_bytes, b"", 0

    def read_some(self) -> bytes:
        data = self._buffer or self._raw.read(self._chunk)
        self._buffer = b""
        self.offset += len(data)
        return data

    def push_back(self, data: bytes) -> None:
        if data:
            self._buffer = data + self._buffer
            self.offset -= len(data)

    def read_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            data = self.read_some()
            if not data:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            out += data
        self.push_back(out[n:])
        return out[:n]

    def read_zero_terminated(self) -> None:
        while True:
            data = self.read_some()
            if not data:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            end = data.find(b"\0")
            if end >= 0:
                self.push_back(data[end + 1 :])
                return


def _next_member(inp: _Input) -> bool:
    """Reads a member's header; False at the end of the stream (zero padding allowed)."""
    while True:
        data = inp.read_some()
        if not data:
            return False
        stripped = data.lstrip(b"\0")
        if stripped:
            inp.push_back(stripped)
            break
    magic = inp.read_exact(2)
    if magic != _GZIP_MAGIC:
        raise gzip.BadGzipFile(f"Not a gzipped file ({magic!r})")
    method, flags = inp.read_exact(2)
    if method != 8:
        raise gzip.BadGzipFile("Unknown compression method")
    inp.read_exact(6)  # mtime, extra flags, OS
    if flags & _FEXTRA:
        (extra_len,) = struct.unpack("<H", inp.read_exact(2))
        inp.read_exact(extra_len)
    if flags & _FNAME:
        inp.read_zero_terminated()
    if flags & _FCOMMENT:
        inp.read_zero_terminated()
    if flags & _FHCRC:
        inp.read_exact(2)
    return True


def _inflate_member(inp: _Input) -> Iterator[bytes]:
    """The decompressed data of the member whose header was just read; then reads its trailer and returns whether
    its CRC-32 and length match (the generator's return value)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    crc, length = 0, 0
    while not inflater.eof:
        data = inp.read_some()
        if not data:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        out = inflater.decompress(data)
        if out:
            crc, length = zlib.crc32(out, crc), length + len(out)
            yield out
    inp.push_back(inflater.unused_data)
    expected_crc, expected_length = struct.unpack("<II", inp.read_exact(8))
    return expected_crc == crc and expected_length == (length & 0xFFFFFFFF)


def _member_is_intact(reopen: Callable[[], BinaryIO], offset: int, chunk_bytes: int) -> bool:
    """Checks the member starting at compressed `offset` by inflating it from a second handle (data discarded)."""
    with reopen() as raw:
        try:
            raw.seek(offset)
        except (AttributeError, OSError):
            remaining = offset
            while remaining:
                skipped = raw.read(min(remaining, chunk_bytes))
                if not skipped:
                    raise EOFError("the log file got shorter while it was read") from None
                remaining -= len(skipped)
        inp = _Input(raw, chunk_bytes)
        if not _next_member(inp):
            raise EOFError("the log file changed while it was read")
        members = _inflate_member(inp)
        while True:
            try:
                next(members)
            except StopIteration as done:
                return bool(done.value)


def verified_gzip_chunks(
    raw: BinaryIO,
    reopen: Callable[[], BinaryIO],
    chunk_bytes: int = CHUNK_BYTES,
    hold_bytes: int = MEMBER_HOLD_BYTES,
) -> Iterator[tuple[bytes, bool]]:
    """(decompressed data, intact) of a gzip stream, member by member: intact is False for the data of a member that
    fails its CRC-32 or length check. Raises READ_ERRORS (after the data before it) for a truncated stream, corrupt
    deflate data or a bad header; `reopen` opens the same file again (used only for members over `hold_bytes`)."""
    inp = _Input(raw, chunk_bytes)
    while True:
        start = inp.offset  # where this member's header (or zero padding before it) starts
        if not _next_member(inp):
            return
        held: list[bytes] = []
        held_bytes, verdict = 0, None
        members = _inflate_member(inp)
        try:
            while True:
                try:
                    data = next(members)
                except StopIteration as done:
                    intact = bool(done.value)
                    break
                if verdict is not None:  # a long member, checked beforehand
                    yield data, verdict
                    continue
                held.append(data)
                held_bytes += len(data)
                if held_bytes > hold_bytes:
                    verdict = _member_is_intact(reopen, start, chunk_bytes)
                    yield b"".join(held), verdict
                    held, held_bytes = [], 0
        except READ_ERRORS:
            if held:  # damaged or truncated: what came before the damage is handed out, as Python's gzip does
                yield b"".join(held), True
            raise
        if verdict is None and held:
            yield b"".join(held), intact


def read_log_lines(
    path: str, max_line_bytes: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, bytes, int, bool]]:
    """(line number, first max_line_bytes + 1 bytes, full length, intact) of every line of a log file. `.gz`: read
    member by member (`verified_gzip_chunks`): a line with bytes from a member that fails its CRC or length check is
    not intact. Raises READ_ERRORS after the lines before a truncated or corrupt part (the file is unreadable)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if path.endswith(".gz"):
            reopen = lambda: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)  # noqa: E731
            chunks: Iterable[tuple[bytes, bool]] = verified_gzip_chunks(raw, reopen, chunk_bytes)
        else:
            chunks = ((chunk, True) for chunk in iter(lambda: raw.read(chunk_bytes), b""))
        yield from bounded_lines(chunks, max_line_bytes)
