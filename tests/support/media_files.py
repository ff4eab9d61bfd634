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
