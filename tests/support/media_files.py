"""Real-shaped evidence files: phone photos with GPS and camera EXIF, screenshots with text
chunks, PDFs, and the hostile ones (disguised, oversized, bombs, animations), made with
Pillow so every test sees the structures a real phone or scanner writes."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
MAKE, MODEL, ORIENTATION, DATETIME, SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0132, 0x0131
# 52°31'12.3"N 13°24'36.7"E, 34 m: where a photo of a label was taken (Berlin).
GPS = {
    1: "N",
    2: (52.0, 31.0, 12.3),
    3: "E",
    4: (13.0, 24.0, 36.7),
    5: b"\x00",
    6: 34.0,
    29: "2026:11:30",
}


def _scene(width: int, height: int) -> Image.Image:
    """A picture with structure (a label with text-like bars), not a flat colour."""
    image = Image.new("RGB", (width, height), (238, 232, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 8, height // 6, width * 7 // 8, height * 5 // 6), fill=(250, 250, 250))
    for row in range(6):
        y = height // 4 + row * height // 12
        draw.rectangle(
            (width // 5, y, width * 4 // 5 - row * 9, y + height // 30), fill=(20, 20, 90)
        )
    draw.ellipse((width // 10, height // 10, width // 4, height // 4), fill=(200, 30, 30))
    return image


def phone_photo(width: int = 640, height: int = 480, orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: camera make/model, time, GPS position, orientation."""
    exif = Image.Exif()
    exif[MAKE] = "Apple"
    exif[MODEL] = "iPhone 15 Pro"
    exif[SOFTWARE] = "17.1.2"
    exif[DATETIME] = "2026:11:30 18:04:11"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update(GPS)
    exif.get_ifd(EXIF_IFD).update({0x9003: "2026:11:30 18:04:11", 0xA434: "iPhone 15 Pro back"})
    out = io.BytesIO()
    _scene(width, height).save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def screenshot_png(width: int = 390, height: int = 844) -> bytes:
    """A PNG with the text chunks screenshot tools add (author, software, XMP, a comment)."""
    info = PngInfo()
    info.add_text("Author", "Jane Contributor")
    info.add_text("Software", "Screenshot tool 2.1")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta><rdf:Description exif:GPSLatitude='52,31.2N'/>")
    info.add_text("Comment", "taken at home, 12 Example Street")
    out = io.BytesIO()
    _scene(width, height).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp_with_exif() -> bytes:
    exif = Image.Exif()
    exif[MAKE] = "Google"
    exif[MODEL] = "Pixel 9"
    exif.get_ifd(GPS_IFD).update(GPS)
    out = io.BytesIO()
    _scene(480, 320).save(out, "WEBP", quality=85, exif=exif.tobytes())
    return out.getvalue()


def small_pdf(text: str = "Randomized trial of Semax in 110 patients") -> bytes:
    """A one-page PDF with an Info dictionary, as a journal's download would have."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (Semax trial) /Author (Journal) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


HTML_AS_PNG = (
    b"<!doctype html><html><body><script>fetch('/moderate/decide',{method:'POST'})</script>"
    b"<img src=x onerror=alert(document.cookie)></body></html>"
)


def oversized_jpeg(megabytes: float = 5.5) -> bytes:
    """A JPEG over Twilio's 5 MB image limit: a real photo with a large APP segment of noise
    (phones' maker notes are like this), so it is a valid JPEG all the same."""
    photo = phone_photo()
    import os

    blob = os.urandom(60_000)
    segments = b"".join(
        b"\xff\xe9" + (len(blob) + 2).to_bytes(2, "big") + blob
        for _ in range(int(megabytes * 1024 * 1024 / len(blob)) + 1)
    )
    return photo[:2] + segments + photo[2:]


def pixel_bomb() -> bytes:
    """A small PNG that decodes to 100 megapixels."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def animated_png() -> bytes:
    frames = [_scene(120, 80), Image.new("RGB", (120, 80), (0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def mistyped_exif_jpeg() -> bytes:
    """A JPEG whose EXIF stores Make as a RATIONAL and says "rotate 90°": what some cameras
    write, and what made Pillow's exif_transpose raise (python-pillow/Pillow#4665)."""
    import struct

    entries = [(MAKE, 5, 1, struct.pack("<II", 1, 1)), (ORIENTATION, 3, 1, struct.pack("<H", 6))]
    body = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    extra, offset = b"", 8 + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            body += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            body += struct.pack("<HHII", tag, kind, count, offset + len(extra))
            extra += value
    blob = b"Exif\x00\x00" + body + b"\x00\x00\x00\x00" + extra
    out = io.BytesIO()
    _scene(160, 80).save(out, "JPEG")
    data = out.getvalue()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob + data[2:]


def multi_picture_jpeg() -> bytes:
    """A JPEG with a second picture (MPO), as Android's Ultra HDR photos carry a gain map."""
    out = io.BytesIO()
    first, second = _scene(160, 120), Image.new("L", (80, 60), 128)
    first.save(out, "MPO", save_all=True, append_images=[second])
    return out.getvalue()


def flat_webp(side: int = 6300) -> bytes:
    """A lossless WebP of one colour: a couple of kilobytes that decode to ~40 megapixels."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), (255, 255, 255)).save(out, "WEBP", lossless=True)
    return out.getvalue()


PDF_PRIVATE_ATTACHMENT = b"attached: my home address is 12 Example Street"


def phone_jpeg_with_everything() -> bytes:
    """``phone_photo()`` with what else phones and editors leave in a JPEG: an XMP packet
    (APP1), a Photoshop block (APP13), a comment, and a trailer after the end of the image
    (where motion photos keep their video)."""
    photo = phone_photo()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><tiff:Model>iPhone 15 Pro</tiff:Model>"
    extra = [(0xE1, xmp), (0xED, b"Photoshop 3.0\x008BIM Jane"), (0xFE, b"Jane's iPhone")]
    segments = b"".join(
        bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body for marker, body in extra
    )
    return photo[:2] + segments + photo[2:] + b"Apple motion photo trailer GPS"


def scanner_pdf(photo: bytes | None = None) -> bytes:
    """A two-page PDF as phone scanner apps and img2pdf write them: the phone's JPEG kept
    whole as a DCTDecode image, an Info dictionary naming the owner, XMP on the catalog and
    the image, and the active parts a review found (JavaScript on open, on a link and in the
    name tree, an attached file, a Launch action, page actions, a thumbnail)."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name, String

    photo = phone_jpeg_with_everything() if photo is None else photo
    with Image.open(io.BytesIO(photo)) as image:
        width, height = image.size
    pdf = pikepdf.new()
    xmp = (
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:exif="http://ns.adobe.com/exif/1.0/"><dc:creator><rdf:Seq>'
        b"<rdf:li>Jane Q. Contributor</rdf:li></rdf:Seq></dc:creator>"
        b"<exif:GPSLatitude>52,31.2N</exif:GPSLatitude></rdf:Description></rdf:RDF>"
        b'</x:xmpmeta><?xpacket end="w"?>'
    )

    def metadata() -> pikepdf.Stream:
        return pdf.make_stream(xmp, Type=Name.Metadata, Subtype=Name.XML)

    picture = pdf.make_stream(
        photo,
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=width,
        Height=height,
        ColorSpace=Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=Name.DCTDecode,
        Metadata=metadata(),
    )
    font = Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    draw = f"q {width} 0 0 {height} 36 200 cm /Im0 Do Q BT /F1 14 Tf 36 120 Td".encode()
    pages = [
        draw + b" (Label of the Semax vial, batch 2231) Tj ET",
        b"BT /F1 12 Tf 72 720 Td (Scanned page two: lot 2231, expiry 2027) Tj ET",
    ]
    javascript = Dictionary(S=Name.JavaScript, JS=String("app.alert('Jane 555')"))
    for number, content in enumerate(pages):
        page = pikepdf.Page(Dictionary(Type=Name.Page, MediaBox=Array([0, 0, 612, 792])))
        page.obj.Contents = pdf.make_stream(content)
        page.obj.Resources = Dictionary(
            Font=Dictionary(F1=font), XObject=Dictionary(Im0=picture) if number == 0 else {}
        )
        pdf.pages.append(page)
    first = pdf.pages[0].obj
    first.AA = Dictionary(O=javascript)
    first.Thumb = pdf.make_stream(b"\x00" * 48, Width=4, Height=4, BitsPerComponent=8)
    first.PieceInfo = Dictionary(ScanApp=Dictionary(Private=String("Jane's iPhone")))
    attachment = pdf.make_stream(PDF_PRIVATE_ATTACHMENT, Type=Name.EmbeddedFile)
    filespec = Dictionary(Type=Name.Filespec, F=String("notes.txt"), EF=Dictionary(F=attachment))
    rect = Array([36, 36, 200, 60])
    first.Annots = pdf.make_indirect(
        Array(
            [
                Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=rect, A=javascript),
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Link,
                    Rect=rect,
                    A=Dictionary(S=Name.Launch, F=String("/bin/sh")),
                ),
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Link,
                    Rect=rect,
                    A=Dictionary(S=Name.URI, URI=String("https://example.org/?who=Jane")),
                ),
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.FileAttachment,
                    Rect=rect,
                    FS=filespec,
                    T=String("Jane Q. Contributor"),
                ),
            ]
        )
    )
    root = pdf.Root
    root.Metadata = metadata()
    root.OpenAction = javascript
    root.Names = Dictionary(
        JavaScript=Dictionary(Names=Array([String("init"), javascript])),
        EmbeddedFiles=Dictionary(Names=Array([String("notes.txt"), filespec])),
    )
    root.AcroForm = Dictionary(Fields=Array([]), XFA=pdf.make_stream(b"<xdp>Jane</xdp>"))
    pdf.docinfo = pdf.make_indirect(
        Dictionary(
            Author=String("Jane Q. Contributor"),
            Creator=String("ScanApp, licensed to +1 555 700 0002"),
            Producer=String("iPhone 15 Pro, iOS 17.1.2"),
            CreationDate=String("D:20261130180411+01'00'"),
        )
    )
    out = io.BytesIO()
    pdf.save(out, static_id=True, fix_metadata_version=False)
    return out.getvalue()


def large_pdf(megabytes: float = 6.0) -> bytes:
    """A valid one-page PDF over Twilio's 5 MB image limit: a scan kept as raw pixels (noise,
    so it stays large however it is compressed)."""
    import os

    import pikepdf
    from pikepdf import Array, Dictionary, Name

    width = 1024
    height = int(megabytes * 1024 * 1024 / (3 * width)) + 1
    pdf = pikepdf.new()
    scan = pdf.make_stream(
        os.urandom(3 * width * height),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=width,
        Height=height,
        ColorSpace=Name.DeviceRGB,
        BitsPerComponent=8,
    )
    page = pikepdf.Page(Dictionary(Type=Name.Page, MediaBox=Array([0, 0, 612, 792])))
    page.obj.Contents = pdf.make_stream(b"q 612 0 0 792 0 0 cm /Im0 Do Q")
    page.obj.Resources = Dictionary(XObject=Dictionary(Im0=scan))
    pdf.pages.append(page)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
