"""A source's files as text lines or table rows: shards, compression containers, encodings.

- `path` is a file, a folder (every data file under it, hidden ones and README-like files skipped) or
  a glob (`data/train-*.parquet`); shards are read in sorted order, each named in its rows' locations.
- Containers: gzip, bz2, xz and zstd, recognised by their magic bytes (so a misnamed file still
  reads) and stripped from the name to find the format (`x.jsonl.gz` is jsonl). Streamed, never
  read whole, except where the format needs the whole text (a JSON array).
- Encodings: `encoding:` (default utf-8) decodes strictly. A byte-order mark wins over the declared
  encoding (UTF-8, UTF-16 and UTF-32). Line-based text in an ASCII-compatible encoding (UTF-8,
  gb18030, big5, latin-1, cp1252, ...) is split into lines first and each line decoded on its own, so
  undecodable bytes are found with their line and byte offset; they are decoded to surrogate escapes
  only so the row around them can be set aside whole (`undecodable` finds them), never kept as text.
  UTF-16/32 text is decoded before it is split (their code units hold 0x0A bytes).
"""

from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import io
import lzma
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from .records import DataError

MAGIC = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
CONTAINER_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
FORMAT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl", ".json": "json", ".csv": "csv",
                   ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow",
                   ".ipc": "arrow"}
# What hub snapshots and `datasets.save_to_disk` folders hold beside the data: never records.
METADATA_FILES = {"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"}
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "arrow")
# Byte-order marks, longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# What decoding left of invalid bytes (surrogateescape): U+DC80..U+DCFF. A JSON escape "\udc80" is
# ASCII in the raw text, so in raw text these come from undecodable bytes alone.
_ESCAPED = re.compile("[\udc80-\udcff]")


def source_files(path_text: str, name: str, skipped: list | None = None) -> list[Path]:
    """The files of a source's `path`: one file, every data file under a folder, or a glob's matches,
    sorted. A folder's files that are hidden, metadata or of no known format are left out; the
    last kind is appended to `skipped`, so the caller can say so."""
    path = Path(path_text)
    if path.is_file():
        return [path]
    if path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))
                            and p.name not in METADATA_FILES)
        files = [p for p in candidates if format_from_name(p) is not None]
        if skipped is not None:
            skipped.extend(str(p) for p in candidates if format_from_name(p) is None)
        if not files:
            raise DataError(f"source {name!r}: folder {path} holds no data file (names ending in "
                            f"{', '.join(FORMAT_SUFFIXES)}, optionally compressed)")
        return files
    if glob.has_magic(path_text):
        files = sorted(Path(p) for p in glob.glob(path_text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"source {name!r}: no file matches {path_text}")
        return files
    raise FileNotFoundError(f"source {name!r}: {path} does not exist")


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)  # .git, .cache, _SUCCESS


def format_from_name(path: Path) -> str | None:
    """The format a file's name says, a container suffix (.gz, .zst, ...) removed first."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in CONTAINER_SUFFIXES:
        suffixes.pop()
    return FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None


def container_of(path: Path) -> str | None:
    """The compression container of a file by its first bytes (None: plain)."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    for magic, container in MAGIC:
        if head.startswith(magic):
            return container
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:6] == b"1A":  # bzip2 block magic 0x314159
        return "bz2"
    suffix = path.suffix.lower()
    if suffix in CONTAINER_SUFFIXES and head:
        raise DataError(f"{path}: named {suffix} but its bytes are not {CONTAINER_SUFFIXES[suffix]} "
                        "(rename it, or recompress it)")
    return None


def open_binary(path: Path):
    """The file's bytes, decompressed as they are read."""
    container = container_of(path)
    if container is None:
        return open(path, "rb")
    if container == "gzip":
        return gzip.open(path, "rb")
    if container == "bz2":
        return bz2.open(path, "rb")
    if container == "xz":
        return lzma.open(path, "rb")
    import zstandard  # a data-env dependency: Python 3.11 has no zstd in its standard library

    raw = open(path, "rb")  # noqa: SIM115 - closed with the reader that wraps it (closefd)
    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                                        closefd=True))


# What a broken container raises while it is read (a cut-off download, a corrupt block).
def container_errors() -> tuple[type[BaseException], ...]:
    errors = [EOFError, OSError, lzma.LZMAError, gzip.BadGzipFile]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


class BrokenTail:
    """Marker row: the file cannot be read on from here (a cut-off or broken container, bytes that a
    UTF-16/32 text cannot resynchronise after, a JSON array cut off); rows before it are kept."""

    def __init__(self, reason: str, what: str = "JSON array cut off or broken"):
        self.reason = reason
        self.what = what


@lru_cache(maxsize=64)
def likely_encodings(path: Path) -> tuple[str, ...]:
    """Up to three encodings charset-normalizer finds likely for the file's first 256 kB
    (decompressed), most likely first; empty when it finds none."""
    try:
        from charset_normalizer import from_bytes

        with open_binary(path) as fh:
            sample = fh.read(1 << 18)
        names = []
        for match in from_bytes(sample):
            for name in [match.encoding, *match.could_be_from_charset]:
                if name not in names:
                    names.append(name)
        return tuple(names[:3])
    except Exception:  # noqa: BLE001 - a guess for a message; its absence must not hide the real error
        return ()


def encoding_hint(path: Path, declared: str) -> str:
    guesses = [g for g in likely_encodings(path) if codecs.lookup(g).name != codecs.lookup(declared).name]
    if guesses:
        others = f" (or {', '.join(guesses[1:])})" if len(guesses) > 1 else ""
        return f"; the file looks like {guesses[0]}{others}: set `encoding: {guesses[0]}` on the source"
    return "; set the source's `encoding:` to the file's encoding"


def undecodable_message(path: Path, offset: int, bad: bytes, encoding: str) -> str:
    """Why a line is refused (its location is the caller's): the bytes, their offset, the likely encoding."""
    return f"not valid {encoding} (bytes {bad[:8]!r} at byte offset {offset}{encoding_hint(path, encoding)})"


class TextLines:
    """The physical lines (endings kept) of a text file, decoded in its encoding, as (line number,
    byte offset, text). Lines end at LF, CRLF or, with `split_cr`, a lone CR (for CSV; JSONL splits
    lone CRs itself, as JSON may hold them as whitespace). `problem` says why a line's bytes could
    not be decoded, or None."""

    def __init__(self, path: Path, encoding: str = "utf-8", split_cr: bool = True):
        self.path = path
        self.encoding = encoding or "utf-8"
        codecs.lookup(self.encoding)  # LookupError for an unknown name: raised before any row is read
        self.split_cr = split_cr
        self.bom = b""
        self.nul_guess = None  # the UTF-16/32 the file looks like when it starts with NUL bytes

    def _start(self, fh) -> bytes:
        head = fh.read(4)
        for bom, encoding in BOMS:
            if head.startswith(bom):
                self.encoding, self.bom = encoding, bom
                return head[len(bom):]
        name = codecs.lookup(self.encoding).name
        if name in ("utf-16", "utf-32"):  # declared without endianness and no mark: little-endian
            self.encoding = name + "-le"
        if name.startswith("utf-8") and len(head) >= 2 and bool(head[0]) != bool(head[1]):
            wide = b"\x00\x00" in head
            self.nul_guess = f"utf-{32 if wide else 16}-{'le' if head[0] else 'be'}"
        return head

    def __iter__(self) -> Iterator[tuple[int, int, str] | BrokenTail]:
        with open_binary(self.path) as fh:
            try:
                head = self._start(fh)
                if codecs.lookup(self.encoding).name in WIDE:
                    yield from self._wide(fh, head)
                else:
                    yield from self._narrow(fh, head)
            except container_errors() as err:
                yield BrokenTail(f"compressed data broken or cut off ({type(err).__name__}: {err})",
                                 "broken container")

    def _narrow(self, fh, head: bytes) -> Iterator[tuple[int, int, str]]:
        """ASCII-compatible encodings: no multi-byte character holds a 0x0A or 0x0D byte, so lines
        are split as bytes and each decoded on its own."""
        offset = len(self.bom)
        split = _BYTES_SPLIT_CR if self.split_cr else _BYTES_SPLIT_LF
        for lineno, raw in enumerate(_byte_lines(fh, head, split), start=1):
            yield lineno, offset, raw.decode(self.encoding, "surrogateescape")
            offset += len(raw)

    def _wide(self, fh, head: bytes) -> Iterator[tuple[int, int, str] | BrokenTail]:
        """UTF-16/32: decoded in chunks before lines are split; an error ends the file (no resync)."""
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        split = _TEXT_SPLIT_CR if self.split_cr else _TEXT_SPLIT_LF
        width = 4 if "32" in self.encoding else 2
        pending, lineno, consumed, chunk = "", 0, len(self.bom), head + fh.read((1 << 16) * width)
        while True:
            final = not chunk
            buffered = len(decoder.getstate()[0])  # bytes of earlier chunks not decoded yet
            try:
                pending += decoder.decode(chunk, final)
            except UnicodeDecodeError as err:
                for line in (p for p in split.split(pending) if p):
                    lineno += 1
                    yield lineno, -1, line
                at = consumed - buffered + max(err.start, 0)
                message = (f"not valid {self.encoding} ({err.reason} near byte offset {at}"
                           f"{encoding_hint(self.path, self.encoding)})")
                yield BrokenTail(message, "undecodable text")
                return
            consumed += len(chunk)
            lines = [p for p in split.split(pending) if p]
            pending = ""
            if lines and not final and (not lines[-1].endswith("\n") or (self.split_cr and lines[-1] == "\r")):
                pending = lines.pop()  # unfinished, or a CR whose LF may start the next chunk
            for line in lines:
                lineno += 1
                yield lineno, -1, line
            if final:
                return
            chunk = fh.read((1 << 16) * width)

    def problem(self, lineno: int, offset: int, text: str) -> str | None:
        """Why the bytes of this line (read at `offset`) are not text in the encoding, or None."""
        found = _ESCAPED.search(text)
        if self.nul_guess and "\x00" in text and (not found or text.index("\x00") < found.start()):
            return (f"not valid {self.encoding} text (NUL bytes, as {self.nul_guess} text without a byte-order "
                    f"mark has: set `encoding: {self.nul_guess}` on the source if that is what it is)")
        if not found:
            return None
        prefix = text[:found.start()].encode(self.encoding, "surrogateescape")
        rest = text[found.start():found.start() + 8].encode(self.encoding, "surrogateescape")
        return undecodable_message(self.path, offset + len(prefix), rest, self.encoding)


WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_BYTES_SPLIT_CR = re.compile(rb"(?<=\n)|(?<=\r)(?!\n)")
_BYTES_SPLIT_LF = re.compile(rb"(?<=\n)")
_TEXT_SPLIT_CR = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
_TEXT_SPLIT_LF = re.compile(r"(?<=\n)")


def _byte_lines(fh, head: bytes, split: re.Pattern) -> Iterator[bytes]:
    """Physical lines of a binary stream (ending kept), `head` already read from it."""
    rest = head
    for block in fh:  # up to and with each LF
        joined = bool(rest)  # the head read before (it may hold line ends of its own)
        if joined:
            block, rest = rest + block, b""
        cr = block.find(b"\r")
        if not joined and (cr < 0 or split is _BYTES_SPLIT_LF or cr == len(block) - 2 and block.endswith(b"\r\n")):
            yield block  # the usual case: one line, LF or CRLF
            continue
        pieces = [p for p in split.split(block) if p]
        if pieces and pieces[-1].endswith(b"\r") and not block.endswith(b"\n"):
            rest = pieces.pop()  # a CR at a block's end (a file's last bytes): its LF may follow
        yield from pieces
    if rest:
        yield from (p for p in split.split(rest) if p)


def undecodable(text: str, start: int = 0, end: int | None = None) -> int:
    """Index of the first character decoding left of an invalid byte in text[start:end], or -1."""
    found = _ESCAPED.search(text, start, len(text) if end is None else end)
    return found.start() if found else -1
