"""A PDF as it may stay in the ledger forever: the pages as they look, nothing else.

Scanner apps, img2pdf and "print to PDF" write more than the pages: the phone's JPEG whole
(EXIF: GPS, camera), Info and XMP naming the owner, attached files, JavaScript. What stays:

- the catalog's /Type, /Pages, /Version, /Lang; what draws a page (boxes, rotation, resources,
  contents, group); what decodes an image. So /Info, XMP, /Names (JavaScript, attachments),
  /OpenAction, /AcroForm, outlines, the structure tree (hidden /Alt texts), optional content
  (every layer is then shown), thumbnails, /AA, /ID go, and elsewhere /Metadata, /A, /JS, /EF….
- annotations as seen on screen, drawn into the page (a stamp, a filled field); then all go,
  links too: a moderator never sees a link's target, and a URL carries what it likes (a share
  token, an address); its text stays where the page prints it.
- JPEGs (/DCTDecode) without APP1..APP15, COM and trailers, byte-exactly: the entropy-coded
  data is untouched. JPEG 2000 is refused (its XML/UUID boxes need a parser of their own), so
  is a JPEG inline in a content stream carrying metadata.

pikepdf (qpdf: C++, on OSS-Fuzz) over pypdf: fast on 16 MB, it writes only objects still
reachable (old revisions, orphans vanish) and the same bytes for the same input
(``deterministic_id``), as the ledger's hash needs. C++ cannot be interrupted from Python, so
the work runs in a child process under a time and memory limit. Not removed: text drawn
invisibly or under a picture, content off the page; moderators review the pages.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import resource
import subprocess
import sys

import pikepdf
from pikepdf import Array, Dictionary, Name, ObjectStreamMode, Pdf, StreamDecodeLevel

log = logging.getLogger(__name__)

# 500 pages is a thick report scanned whole (evidence is a label, a paper, a letter); 100,000
# objects is 200 a page even then. A 16 MB file of photos cleans in 0.2 s, 500 pages of dense
# text in 1.5 s: 10 s is a file built to expand, and leaves the 60 s media job room. 1 GiB of
# address space is ten times what 16 MB needs: a flate bomb fails, not the host.
MAX_PAGES = 500
MAX_OBJECTS = 100_000
TIME_LIMIT_S = 10.0
MEMORY_LIMIT = 1024 * 1024 * 1024
_REFUSED_EXIT = 3

CATALOG_KEEPS = frozenset({"/Type", "/Pages", "/Version", "/Lang"})
PAGE_TREE_KEEPS = frozenset(
    {"/Type", "/Parent", "/Kids", "/Count", "/Resources", "/Contents", "/Rotate", "/Group"}
    | {"/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox", "/UserUnit"}
)
IMAGE_KEEPS = frozenset(
    {"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/Length"}
    | {"/Filter", "/DecodeParms", "/Decode", "/Interpolate", "/ImageMask", "/Mask", "/SMask"}
    | {"/SMaskInData", "/Intent", "/Matte"}
)
DROPPED_EVERYWHERE = frozenset(
    {"/Metadata", "/PieceInfo", "/LastModified", "/Thumb", "/AA", "/OpenAction", "/A", "/JS"}
    | {"/EF", "/RF", "/AF", "/OPI", "/Ref"}
)
_CODECS = ("ASCIIHex", "ASCII85", "LZW", "Flate", "RunLength", "CCITTFax", "JBIG2", "DCT", "JPX")
KNOWN_FILTERS = frozenset(Name(f"/{codec}Decode") for codec in _CODECS) | {Name.Crypt}
UNREADABLE = "the PDF could not be read; save or print it to a new PDF and send that"
BAD_PICTURE = "a picture in the PDF could not be read; print it to a new PDF and send that"
UNCLEANABLE = (
    "a picture in the PDF is stored in a way that cannot be cleaned; print it to a new PDF"
)
TOO_LARGE = "the PDF is too large once expanded; send the pages that matter"


class Refused(ValueError):
    """The file is not kept; the message says why, in words the contributor can act on.
    Defined here and re-exported by ``bot.media.clean``, so only clean imports the other."""


def clean_pdf(data: bytes) -> bytes:
    """The PDF without metadata or active content, the same bytes each time; or Refused.
    In a child process, so that a time and a memory limit stop a file built to expand."""
    try:
        child = subprocess.run(
            [sys.executable, "-m", "bot.media.pdf"],
            input=data,
            capture_output=True,
            timeout=TIME_LIMIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Refused(f"the PDF took over {TIME_LIMIT_S:.0f} s to read; send fewer pages") from None
    if child.returncode == 0:
        return child.stdout
    if child.returncode == _REFUSED_EXIT:  # the reason is on stdout: stderr has qpdf's warnings
        raise Refused(child.stdout.decode("utf-8", "replace").strip()[:300] or UNREADABLE)
    log.warning("PDF cleaner exited %s: %s", child.returncode, child.stderr[-2000:])
    raise Refused(UNREADABLE)


def cleaned(data: bytes) -> bytes:
    """The work itself, in this process: what the child runs."""
    pdf = _open(data)
    with pdf:
        if len(pdf.pages) > MAX_PAGES:
            raise Refused(f"the PDF has over {MAX_PAGES} pages; send the pages that matter")
        if int(pdf.trailer.get("/Size", 0)) > MAX_OBJECTS:
            raise Refused(f"the PDF is too complex (over {MAX_OBJECTS:,} objects)")
        if "/AcroForm" in pdf.Root:
            pdf.generate_appearance_streams()  # a form's values stay visible once flattened
        pdf.flatten_annotations("screen")
        _keep_only(pdf.Root, CATALOG_KEEPS)
        _keep_only(pdf.trailer, frozenset({"/Root", "/Size"}))
        for page in pdf.pages:
            _keep_only(page.obj, PAGE_TREE_KEEPS)
            _refuse_inline_jpeg_metadata(page)
        _scrub(pdf)
        pdf.remove_unreferenced_resources()
        out = io.BytesIO()
        pdf.save(
            out,
            deterministic_id=True,  # the /ID from the content: no time, no random bytes
            fix_metadata_version=False,
            preserve_pdfa=False,  # no XMP is left, so no PDF/A claim to keep
            # Streams as they came: none expanded, none newly compressed (qpdf lays out a stream
            # it compressed unlike one it read, so a cleaned file would not clean to itself).
            compress_streams=False,
            stream_decode_level=StreamDecodeLevel.none,
            object_stream_mode=ObjectStreamMode.generate,
        )
        return out.getvalue()


def _open(data: bytes) -> Pdf:
    """Open without qpdf's repair heuristics: a file that must be guessed at is one that
    different readers show differently, and moderators approve what they saw."""
    try:
        pdf = Pdf.open(io.BytesIO(data), attempt_recovery=False)
    except pikepdf.PasswordError:
        raise Refused("password-protected PDFs cannot be published") from None
    except (pikepdf.PdfError, ValueError, RuntimeError):
        raise Refused(UNREADABLE) from None
    if pdf.is_encrypted:  # an owner password only: opens, but is still locked by its author
        pdf.close()
        raise Refused("password-protected PDFs cannot be published")
    return pdf


def _keep_only(obj: pikepdf.Object, keep: frozenset[str]) -> None:
    for key in set(obj.keys()) - keep:
        _drop(obj, key)


def _drop(obj: pikepdf.Object, key: str) -> None:
    with contextlib.suppress(KeyError):  # a key whose value is null counts as absent
        del obj[key]


def _scrub(pdf: Pdf) -> None:
    """Walk every object reachable from the catalog once: drop what the allowlists miss,
    strip the JPEGs, and check content streams for inline JPEGs."""
    seen: set[tuple[int, int]] = set()
    stack: list[pikepdf.Object] = [pdf.Root]
    while stack:
        obj = stack.pop()
        if not isinstance(obj, Array | Dictionary | pikepdf.Stream):
            continue  # numbers, names, strings: nothing to walk into
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
            if len(seen) > MAX_OBJECTS:
                raise Refused(f"the PDF is too complex (over {MAX_OBJECTS:,} objects)")
        if isinstance(obj, Array):
            stack.extend(obj)
            continue
        if obj.get("/Type") in (Name.Pages, Name.Page):
            _keep_only(obj, PAGE_TREE_KEEPS)
        elif obj.get("/Subtype") == Name.Image:
            _keep_only(obj, IMAGE_KEEPS)
        for key, value in list(obj.items()):
            if key in DROPPED_EVERYWHERE or _is_xmp(value):  # XMP under any key, too
                _drop(obj, key)
        if isinstance(obj, pikepdf.Stream):
            _clean_stream(obj)
        if obj.get("/Subtype") == Name.Form or obj.get("/PatternType") == 1:
            _refuse_inline_jpeg_metadata(obj)
        elif obj.get("/Subtype") == Name.Type3 and isinstance(obj.get("/CharProcs"), Dictionary):
            for glyph in obj.CharProcs.values():
                _refuse_inline_jpeg_metadata(glyph)
        stack.extend(obj.values())


def _is_xmp(value: object) -> bool:
    return isinstance(value, pikepdf.Stream) and (
        value.get("/Type") == Name.Metadata or value.get("/Subtype") == Name.XML
    )


def _filters(obj: pikepdf.Object) -> list[pikepdf.Object]:
    value = obj.get("/Filter")
    return list(value) if isinstance(value, Array) else [] if value is None else [value]


def _clean_stream(stream: pikepdf.Stream) -> None:
    """Strip a JPEG's metadata in place, the stream still encoded. By the filter, whatever
    /Subtype says; an unknown filter is refused: what can't be decoded can't be vouched for."""
    filters = _filters(stream)
    if not set(filters) <= KNOWN_FILTERS:
        raise Refused(UNREADABLE)
    if Name.JPXDecode in filters:
        raise Refused("PDFs with JPEG 2000 pictures cannot be published; print it to a new PDF")
    raw = stream.read_raw_bytes()
    if Name.DCTDecode not in filters:
        if raw.startswith(b"\xff\xd8\xff"):  # a JPEG with its filter lost: unseen, but kept
            raise Refused(UNCLEANABLE)
        return
    if len(filters) != 1:
        raise Refused(UNCLEANABLE)
    bare = strip_jpeg(raw)
    if bare != raw:
        parms = stream.get("/DecodeParms")
        parms = parms[0] if isinstance(parms, Array) and len(parms) else parms
        stream.write(
            bare,
            filter=Name.DCTDecode,
            decode_parms=parms if isinstance(parms, Dictionary) else None,
        )


def _refuse_inline_jpeg_metadata(target: pikepdf.Object | pikepdf.Page) -> None:
    """An image inside a content stream can't be rewritten without rewriting the stream: one
    that is a JPEG carrying metadata is refused (the usual inline image is a small mask).
    Tokenizing is the slow part of cleaning, so only streams holding "ID" are parsed."""
    contents = target.obj.get("/Contents") if isinstance(target, pikepdf.Page) else target
    streams = list(contents) if isinstance(contents, Array) else [contents]
    if not any(isinstance(s, pikepdf.Stream) and b"ID" in s.read_bytes() for s in streams):
        return
    for instruction in pikepdf.parse_content_stream(target, "BI ID EI"):
        inline = getattr(instruction, "iimage", None)
        if inline is None or Name.DCTDecode not in _filters(inline.obj):
            continue
        raw = inline.read_raw_bytes()
        bare = strip_jpeg(raw)  # qpdf keeps the whitespace before EI: not a trailer
        if not raw.startswith(bare) or raw[len(bare) :].strip():
            raise Refused(UNCLEANABLE)


_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # in entropy-coded data: not stuffing, not RSTn
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn have no length
_APP0, _APP14, _COM, _SOS, _EOI = 0xE0, 0xEE, 0xFE, 0xDA, 0xD9
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn, not DHT, JPG, DAC
_DECODING = frozenset(range(0xC0, 0xD0)) | {0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF}  # SOFn DHT DQT…


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG without APPn and COM segments or a trailer, every other byte as it was.

    Kept: a plain JFIF APP0 (version and pixel density, no thumbnail) and Adobe's APP14,
    which says whether the colours are YCbCr or RGB/CMYK: without it they decode wrong.
    Refused: a marker no decoder knows, a second or malformed frame header, no end of image;
    in such a file what is picture and what is something else cannot be told apart."""
    if not data.startswith(b"\xff\xd8"):
        raise Refused(BAD_PICTURE)
    out, pos, frames = [b"\xff\xd8"], 2, 0
    while pos < len(data):
        if data[pos] != 0xFF or pos + 1 >= len(data):
            raise Refused(BAD_PICTURE)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            out.append(b"\xff\xd9")
            break  # what follows the image (a motion photo's video, a maker's trailer) goes
        if marker in _STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > len(data) or end < pos + 4:
            raise Refused(BAD_PICTURE)
        segment = data[pos:end]
        if marker in _FRAMES:  # one frame header, well formed: else it is not a picture
            frames += 1
            if frames > 1 or len(segment) < 10 or len(segment) != 10 + 3 * segment[9]:
                raise Refused(BAD_PICTURE)
        if _keeps(marker, segment):
            out.append(segment)
        pos = end
        if marker == _SOS:  # the scan's entropy-coded data runs to the next real marker
            found = _MARKER.search(data, pos)
            if found is None:  # no end of image: the picture and a trailer can't be told apart
                raise Refused(BAD_PICTURE)
            out.append(data[pos : found.start()])
            pos = found.start()
    else:
        raise Refused(BAD_PICTURE)
    return b"".join(out)


def _keeps(marker: int, segment: bytes) -> bool:
    """APPn and COM go; the segments that decode the picture stay; any other is refused."""
    if marker == _APP0:
        return segment[2:4] == b"\x00\x10" and segment[4:9] == b"JFIF\x00"  # 16: no thumbnail
    if marker == _APP14:
        return segment[2:4] == b"\x00\x0e" and segment[4:9] == b"Adobe"
    if 0xE1 <= marker <= 0xEF or marker == _COM:
        return False
    if marker in _DECODING:
        return True
    raise Refused(BAD_PICTURE)


def _child() -> int:
    """``python -m bot.media.pdf``: the PDF on stdin; the cleaned PDF on stdout, or the reason
    and exit status 3. Anything unexpected is a traceback on stderr, logged by the parent."""
    data = sys.stdin.buffer.read()
    with contextlib.suppress(ValueError, OSError):  # a hard limit already lower stays
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        out = cleaned(data)
    except Refused as exc:
        out, status = str(exc).encode(), _REFUSED_EXIT
    except MemoryError:
        out, status = TOO_LARGE.encode(), _REFUSED_EXIT
    except (pikepdf.PdfError, ValueError, TypeError, RuntimeError) as exc:  # bad_alloc too
        out = (TOO_LARGE if "bad_alloc" in str(exc) else UNREADABLE).encode()
        status = _REFUSED_EXIT
    else:
        status = 0
    sys.stdout.buffer.write(out)
    return status


if __name__ == "__main__":
    raise SystemExit(_child())
