"""A PDF as it may stay in the ledger forever: the pages and their pictures, nothing else.

The fixtures are shaped like what phone scanner apps and img2pdf write (the phone's JPEG kept
whole, an Info dictionary, XMP, JavaScript, an attached file); every check looks at the
output with its streams decoded, not at the compressed bytes where anything could hide."""

from __future__ import annotations

import io
import random

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, ObjectStreamMode, StreamDecodeLevel
from PIL import Image

from bot.media import pdf as pdf_module
from bot.media.clean import Refused, clean
from bot.media.pdf import clean_pdf, strip_jpeg
from tests.support import media_files

PRIVATE = [
    b"iPhone",
    b"Apple",
    b"GPS",
    b"Exif\x00\x00",
    b"2026:11:30",
    b"Jane",
    b"555",
    b"700 0002",
    b"JavaScript",
    b"xmpmeta",
    b"Photoshop",
    b"motion photo",
    b"Launch",
    b"/bin/sh",
    b"example.org",
    media_files.PDF_PRIVATE_ATTACHMENT,
]


@pytest.fixture(scope="module")
def scan() -> bytes:
    return media_files.scanner_pdf()


@pytest.fixture(scope="module")
def cleaned_scan(scan) -> bytes:
    return clean_pdf(scan)


def expanded(data: bytes) -> bytes:
    """The file, the same file with no object streams and its streams decoded, then each
    stream's data decoded again one by one (qpdf's writer leaves some compressed): what any
    reader could get out of it. JPEGs stay JPEG bytes."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        out = io.BytesIO()
        pdf.save(
            out,
            qdf=True,
            object_stream_mode=ObjectStreamMode.disable,
            stream_decode_level=StreamDecodeLevel.generalized,
        )
        streams = [decoded(obj) for obj in pdf.objects if isinstance(obj, pikepdf.Stream)]
    return b"".join([data, out.getvalue(), *streams])


def decoded(stream: pikepdf.Stream) -> bytes:
    try:
        return stream.read_bytes(StreamDecodeLevel.generalized)
    except pikepdf.PdfError:  # a JPEG, or a stream damaged in the input: its bytes as stored
        return stream.read_raw_bytes()


def first_image(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        image = pdf.pages[0].Resources.XObject.Im0
        assert image.Filter == Name.DCTDecode
        return image.read_raw_bytes()


def pixels(jpeg: bytes) -> bytes:
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.tobytes()


def test_the_pages_text_and_pixels_stay(scan, cleaned_scan):
    with pikepdf.open(io.BytesIO(scan)) as before, pikepdf.open(io.BytesIO(cleaned_scan)) as after:
        assert len(after.pages) == len(before.pages) == 2
        assert b"Label of the Semax vial" in after.pages[0].Contents.read_bytes()
        assert b"Scanned page two" in after.pages[1].Contents.read_bytes()
    original, kept = first_image(scan), first_image(cleaned_scan)
    assert pixels(kept) == pixels(original)
    # Lossless: the scan (its header and entropy-coded data, to the end of the image) is the
    # original's byte for byte; only the segments before it and the trailer went.
    scan_data = kept[kept.index(b"\xff\xda") :]
    assert scan_data.endswith(b"\xff\xd9") and scan_data in original
    with Image.open(io.BytesIO(kept)) as image:
        assert not image.getexif() and not image.getexif().get_ifd(media_files.GPS_IFD)
        assert set(image.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density"}


def test_no_metadata_or_active_content_is_left(scan, cleaned_scan):
    before, after = expanded(scan), expanded(cleaned_scan)
    for marker in PRIVATE:
        assert marker in before, f"the fixture lacks {marker!r}"
        assert marker not in after, marker
    with pikepdf.open(io.BytesIO(cleaned_scan)) as pdf:
        assert set(pdf.Root.keys()) == {"/Type", "/Pages"}
        assert "/Info" not in pdf.trailer
        for page in pdf.pages:
            assert not set(page.obj.keys()) & {"/Annots", "/AA", "/Thumb", "/PieceInfo"}
        for obj in pdf.objects:
            if isinstance(obj, Dictionary | pikepdf.Stream):
                assert not set(obj.keys()) & {"/Metadata", "/JS", "/EF", "/OpenAction", "/A"}
                assert obj.get("/Type") not in (Name.EmbeddedFile, Name.Filespec, Name.Metadata)


def test_cleaning_is_deterministic_and_idempotent(scan, cleaned_scan):
    assert clean_pdf(scan) == cleaned_scan  # a resent file hashes the same
    assert clean_pdf(cleaned_scan) == cleaned_scan  # and a cleaned one is left as it is
    assert clean(scan, "application/pdf").data == cleaned_scan


def test_a_journal_pdf_passes_through_clean():
    original = media_files.small_pdf()
    kept = clean(original, "application/pdf")
    assert kept.content_type == "application/pdf"
    with pikepdf.open(io.BytesIO(kept.data)) as pdf:
        assert len(pdf.pages) == 1
        assert b"Randomized trial of Semax" in pdf.pages[0].Contents.read_bytes()
    assert b"Semax trial" in expanded(original) and b"Semax trial" not in expanded(kept.data)


def test_what_an_annotation_shows_stays_on_the_page():
    """A stamp or a filled field is part of what the page shows: it is drawn into the page,
    the annotation (with its author and dates) goes."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    font = Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    look = pdf.make_stream(
        b"BT /F1 10 Tf 2 6 Td (Received 2026-11-30) Tj ET",
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=Array([0, 0, 120, 20]),
        Resources=Dictionary(Font=Dictionary(F1=font)),
    )
    pdf.pages[0].obj.Annots = Array(
        [
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.Stamp,
                Rect=Array([100, 700, 220, 720]),
                AP=Dictionary(N=look),
                T=pikepdf.String("Jane Q. Contributor"),
                F=4,
            )
        ]
    )
    out = io.BytesIO()
    pdf.save(out)
    kept = clean_pdf(out.getvalue())
    with pikepdf.open(io.BytesIO(kept)) as cleaned:
        assert "/Annots" not in cleaned.pages[0].obj
    assert b"Received 2026-11-30" in expanded(kept) and b"Jane" not in expanded(kept)


def encrypted(owner: str, user: str) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(media_files.small_pdf())) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner=owner, user=user))
    return out.getvalue()


@pytest.mark.parametrize(("owner", "user"), [("o", "u"), ("owner", "")], ids=["user", "owner"])
def test_an_encrypted_pdf_is_refused(owner, user):
    with pytest.raises(Refused, match=r"^password-protected PDFs cannot be published"):
        clean(encrypted(owner, user), "application/pdf")


def malformed() -> dict[str, bytes]:
    scan = media_files.scanner_pdf()
    return {
        "garbage": b"%PDF-1.7\n" + bytes(random.Random(7).randbytes(4000)) + b"\n%%EOF\n",
        "header-only": b"%PDF-1.4\n%%EOF\n",
        "truncated": scan[: len(scan) // 2],
        "truncated-with-end": scan[: len(scan) // 2] + b"\nstartxref\n9\n%%EOF\n",
        "no-xref": scan.replace(b"startxref", b"startxrex"),
        "broken-jpeg": scan.replace(b"\xff\xd8\xff", b"\xff\xd8\x00", 1),
    }


@pytest.mark.parametrize("name", malformed())
def test_a_malformed_pdf_is_refused_with_a_reason(name):
    with pytest.raises(Refused) as refused:
        clean_pdf(malformed()[name])
    assert str(refused.value).startswith(("the PDF", "a picture in the PDF"))


def test_a_damaged_pdf_never_raises_anything_but_refused(scan):
    """Bytes flipped anywhere (a renamed /Metadata key, a JPEG marker turned into another):
    refused with a reason, or cleaned all the same. Only the longer markers are looked for:
    three bytes like "555" turn up by chance in compressed data."""
    rng = random.Random(20261130)
    kept = 0
    for _ in range(30):
        damaged = bytearray(scan)
        for _ in range(rng.randint(1, 40)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            result = clean_pdf(bytes(damaged))
        except Refused as exc:
            assert str(exc).startswith(("the PDF", "a picture in the PDF")), exc
            continue
        kept += 1
        assert clean_pdf(result) == result
        everything = expanded(result)
        for marker in PRIVATE:
            assert len(marker) < 5 or marker not in everything, marker
    assert kept  # some damage is harmless, and such files are still taken


def test_limits_on_pages_objects_expansion_and_time(monkeypatch):
    pdf = pikepdf.new()
    for _ in range(pdf_module.MAX_PAGES + 1):
        pdf.add_blank_page()
    many = io.BytesIO()
    pdf.save(many)
    with pytest.raises(Refused, match="over 500 pages"):
        clean_pdf(many.getvalue())

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Resources = Dictionary(
        Properties=Dictionary(All=Array([pdf.make_indirect(Dictionary()) for _ in range(100_001)]))
    )
    complex_pdf = io.BytesIO()
    pdf.save(complex_pdf)
    with pytest.raises(Refused, match="too complex"):
        clean_pdf(complex_pdf.getvalue())

    with pytest.raises(Refused, match="too large once expanded"):
        clean_pdf(flate_bomb(pdf_module.MEMORY_LIMIT))

    monkeypatch.setattr(pdf_module, "TIME_LIMIT_S", 0.001)
    with pytest.raises(Refused, match="took over"):
        clean_pdf(media_files.small_pdf())


def flate_bomb(size: int) -> bytes:
    """A PDF of a few MB whose one page's content decodes to ``size`` bytes of spaces."""
    import zlib

    packer = zlib.compressobj(1)
    chunk = b" " * (64 * 1024 * 1024)
    packed = b"".join(packer.compress(chunk) for _ in range(-(-size // len(chunk))))
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(packed + packer.flush(), Filter=Name.FlateDecode)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_a_jpeg_2000_picture_is_refused():
    jp2 = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(jp2, "JPEG2000")
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Resources = Dictionary(
        XObject=Dictionary(
            Im0=pdf.make_stream(
                jp2.getvalue(),
                Type=Name.XObject,
                Subtype=Name.Image,
                Width=32,
                Height=32,
                Filter=Name.JPXDecode,
            )
        )
    )
    pdf.pages[0].Contents = pdf.make_stream(b"q 32 0 0 32 0 0 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out)
    with pytest.raises(Refused, match="JPEG 2000"):
        clean_pdf(out.getvalue())


def inline_image_pdf(jpeg: bytes) -> bytes:
    with Image.open(io.BytesIO(jpeg)) as image:
        size = image.size
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(
        b"q %d 0 0 %d 0 0 cm BI /W %d /H %d /CS /RGB /BPC 8 /F /DCT ID " % (*size, *size)
        + jpeg
        + b" EI Q"
    )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_an_inline_jpeg_is_kept_bare_and_refused_with_metadata():
    photo = media_files.phone_photo(160, 120)
    bare = strip_jpeg(photo)
    assert clean_pdf(inline_image_pdf(bare))
    with pytest.raises(Refused, match="cannot be cleaned"):
        clean_pdf(inline_image_pdf(photo))


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_strip_jpeg_is_lossless(progressive):
    with Image.open(io.BytesIO(media_files.phone_photo())) as image:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90, progressive=progressive, exif=image.getexif().tobytes())
    # An Adobe APP14 says how the colours are coded; it stays. Comments and APPn go.
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x01"
    photo = out.getvalue()
    photo = photo[:2] + adobe + b"\xff\xfe\x00\x06Jane" + photo[2:] + b"trailing GPS"
    bare = strip_jpeg(photo)
    assert pixels(bare) == pixels(photo)
    assert adobe in bare and bare.endswith(b"\xff\xd9")
    for marker in (b"Exif", b"Jane", b"GPS", b"iPhone"):
        assert marker not in bare
    assert strip_jpeg(bare) == bare
    with pytest.raises(Refused):
        strip_jpeg(photo[:40])
