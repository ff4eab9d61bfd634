"""What a file really is, and the copy of it anyone else may see.

The type comes from the bytes, never from what the sender (or Twilio) declared: an HTML page
declared ``image/png`` is refused, not stored. Images are decoded and re-encoded by Pillow
into a new file holding only the pixels — no EXIF (GPS position, camera, time), no XMP, no
ICC profile, no comments — after turning them upright as their EXIF orientation said, so the
picture looks as the sender saw it. The re-encoded bytes are what is stored, shown to
moderators, hashed into the ledger and published; the original bytes are never written.
PDFs are rewritten by ``bot.media.pdf`` without metadata, attachments or scripts, their JPEGs
stripped losslessly; they are served only as downloads under a sandbox policy
(``bot.web.media``). ``Refused`` lives there, so that this module imports it, not the reverse.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from bot.media.pdf import Refused, clean_pdf
from ledger.media import sniff

MB = 1024 * 1024
# Twilio's own limits for inbound media: 5 MB for images, 16 MB for documents.
LIMITS = {
    "image/jpeg": 5 * MB,
    "image/png": 5 * MB,
    "image/webp": 5 * MB,
    "application/pdf": 16 * MB,
}
MAX_BYTES = max(LIMITS.values())
# A 5 MB file can decode to gigabytes ("decompression bomb"). 25 megapixels is more than a
# 6000 x 4000 camera photo (WhatsApp sends at most 4096 px a side) and decodes to ~75 MB of
# RGB; a flat 40 MP WebP of 1.6 KB peaked at 1.3 GB in review. Pillow's own guard is 89 MP.
MAX_PIXELS = 25_000_000
NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "application/pdf": "PDF"}
_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
ACCEPTED = "a JPEG, PNG or WebP picture or a PDF"


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    content_type: str


def describe(content_type: str, size: int) -> str:
    """'JPEG, 120 KB': how files are named in texts and pages."""
    name = NAMES.get(content_type, content_type or "file")
    if size >= MB:
        return f"{name}, {size / MB:.1f} MB"
    return f"{name}, {max(1, round(size / 1024))} KB"


def clean(data: bytes, declared: str = "") -> Cleaned:
    """The file as it may be kept, or Refused saying why."""
    kind = sniff(data)
    if kind is None:
        said = f" (it was sent as {declared[:40]})" if declared else ""
        raise Refused(f"it is not {ACCEPTED}{said}")
    limit = LIMITS[kind]
    if len(data) > limit:
        raise Refused(f"the {NAMES[kind]} is over {limit // MB} MB")
    if kind == "application/pdf":
        if b"%%EOF" not in data[-2048:]:
            raise Refused("the PDF is cut off (no end marker)")
        return Cleaned(clean_pdf(data), kind)
    return Cleaned(_reencode(data, kind), kind)


# EXIF orientation (tag 0x0112) → the turn that makes the picture upright. Applied by hand:
# ImageOps.exif_transpose also rewrites the EXIF block, and real cameras' malformed tags make
# that raise (python-pillow/Pillow#4665, #6882); the EXIF is dropped anyway.
ORIENTATION = 0x0112
_UPRIGHT = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _reencode(data: bytes, kind: str) -> bytes:
    fmt = _PIL_FORMAT[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt, "MPO"]) as image:
                return _upright_copy(image, fmt)
        except Refused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Refused(f"the picture is over {MAX_PIXELS // 1_000_000} megapixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise Refused(f"the {NAMES[kind]} could not be read ({type(exc).__name__})") from None
        except Exception as exc:  # a decoder's bug on a hostile file is a refusal, not a crash
            raise Refused(f"the {NAMES[kind]} could not be read ({type(exc).__name__})") from None


def _upright_copy(image: Image.Image, fmt: str) -> bytes:
    if image.width * image.height > MAX_PIXELS:
        raise Refused(f"the picture is over {MAX_PIXELS // 1_000_000} megapixels")
    # A JPEG's extra frames (MPO: Android's Ultra HDR gain map, a stereo pair, a thumbnail)
    # are not the picture: keep the first. A PNG or WebP with frames is an animation.
    if getattr(image, "n_frames", 1) > 1 and fmt != "JPEG":
        raise Refused("animated pictures are not accepted; send a still")
    try:
        orientation = int(image.getexif().get(ORIENTATION, 1))
    except Exception:  # an unreadable EXIF block: nothing to turn by
        orientation = 1
    image.load()
    for turn in _UPRIGHT.get(orientation, ()):
        image = image.transpose(turn)
    return _encode(image, fmt)


def _encode(image: Image.Image, fmt: str) -> bytes:
    """A fresh file from the pixels alone: no ``exif=``, ``icc_profile=`` or text chunks."""
    if image.mode in ("P", "L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")  # the transparency lives in the info dict we drop
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    elif fmt == "PNG" and image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image = image.convert("RGBA")
    elif fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    # Pillow's writers fall back to the image's own info (ICC profile, EXIF, text chunks) for
    # what save() is not given: with an empty info dict only the pixels (and palette) remain.
    image.info = {}
    out = io.BytesIO()
    options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    image.save(out, format=fmt, **options)
    return out.getvalue()
