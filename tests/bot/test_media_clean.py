"""What is kept of a file, and what is refused: types from the bytes, metadata gone, limits."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import pikepdf
import pytest
from PIL import Image

from bot.config import Settings
from bot.media.clean import Refused, clean
from bot.media.fetch import twilio_media
from bot.media.store import MediaStore
from ledger.media import problem, sniff
from tests.support import media_files
from tests.support.settings import ACCOUNT_SID

PRIVATE = [b"iPhone", b"Apple", b"2026:11:30", b"Jane", b"Example Street", b"xmpmeta", b"GPS"]


def reopened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    "make", [media_files.phone_photo, media_files.screenshot_png, media_files.webp_with_exif]
)
def test_pictures_are_reencoded_with_no_metadata_left(make):
    original = make()
    assert any(marker in original for marker in PRIVATE)  # the fixture is what phones send
    kept = clean(original, "image/jpeg")
    image = reopened(kept.data)
    assert kept.content_type == sniff(original)
    assert not image.getexif(), "EXIF survived"
    assert not set(image.info) & {"exif", "xmp", "icc_profile", "Author", "Comment", "Software"}
    for marker in PRIVATE:
        assert marker not in kept.data, marker


def test_a_photo_is_turned_upright_as_its_orientation_said():
    original = media_files.phone_photo(640, 480, orientation=6)  # "rotate 90° clockwise"
    image = reopened(clean(original).data)
    assert image.size == (480, 640)
    # The red disc the scene puts top-left ends up top-right once turned.
    assert image.getpixel((480 - 60, 60))[0] > 150
    assert image.getpixel((60, 60))[0] < 150 or image.getpixel((60, 60))[1] > 150


def test_cleaning_is_deterministic_so_a_resent_photo_is_one_file():
    photo = media_files.phone_photo()
    assert clean(photo).data == clean(photo).data


def test_a_pdf_keeps_its_text_and_loses_its_metadata():
    pdf = media_files.small_pdf()
    kept = clean(pdf, "application/pdf")
    assert kept.content_type == "application/pdf"
    with pikepdf.open(io.BytesIO(kept.data)) as reopened_pdf:
        assert b"Randomized trial of Semax" in reopened_pdf.pages[0].Contents.read_bytes()
        assert "/Info" not in reopened_pdf.trailer
    assert clean(kept.data).data == kept.data  # a resent (cleaned) PDF is the same file


@pytest.mark.parametrize(
    ("data", "declared", "reason"),
    [
        (
            media_files.HTML_AS_PNG,
            "image/png",
            "it is not a JPEG, PNG or WebP picture or a PDF (it was sent as image/png)",
        ),
        (b"GIF89a" + b"\x00" * 100, "image/gif", "it is not a JPEG, PNG or WebP picture or a PDF"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 50, "image/jpeg", "the JPEG could not be read"),
        (media_files.small_pdf()[:-200], "application/pdf", "the PDF is cut off"),
        (media_files.pixel_bomb(), "image/png", "the picture is over 25 megapixels"),
        (media_files.animated_png(), "image/png", "animated pictures are not accepted"),
        (b"", "image/jpeg", "it is not a JPEG"),
    ],
    ids=["html-as-png", "gif", "broken-jpeg", "cut-pdf", "bomb", "animated", "empty"],
)
def test_what_is_refused_says_why(data, declared, reason):
    with pytest.raises(Refused) as refused:
        clean(data, declared)
    assert str(refused.value).startswith(reason)


def test_an_image_over_five_megabytes_is_refused_but_a_pdf_may_be_larger():
    big = media_files.oversized_jpeg(5.5)
    assert sniff(big) == "image/jpeg" and len(big) > 5 * 1024 * 1024
    with pytest.raises(Refused, match="the JPEG is over 5 MB"):
        clean(big)
    pdf = media_files.large_pdf(6)
    assert len(pdf) > 5 * 1024 * 1024
    assert clean(pdf).content_type == "application/pdf"


def test_the_store_names_files_by_hash_and_writes_once(tmp_path):
    store = MediaStore(tmp_path / "media")
    data = clean(media_files.phone_photo()).data
    sha256 = store.put(data)
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert store.path(sha256) == tmp_path / "media" / sha256[:2] / sha256[2:4] / sha256
    assert store.put(data) == sha256 and store.read(sha256) == data
    assert [name for name, _ in store.files()] == [sha256]
    assert store.delete(sha256) and store.read(sha256) is None
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_only_twilio_media_links_of_this_account_are_fetched():
    settings = Settings.load(
        {
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": "x" * 32,
            "twilio_api_url": "https://api.twilio.com",
        },
        env={},
    )
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"
    good = "https://api.twilio.com" + path
    assert twilio_media(good, settings).media_sid == "ME" + "b" * 32
    assert twilio_media(
        good.replace("https://api.twilio.com", "https://API.twilio.com:443"), settings
    )
    other_account = good.replace(ACCOUNT_SID, "AC" + "2" * 32)
    refused = [
        other_account,
        good.replace("https://", "http://"),
        good.replace("api.twilio.com", "api.twilio.com.evil.example"),
        good.replace("api.twilio.com", "127.0.0.1"),
        good.replace("api.twilio.com", "169.254.169.254"),
        good.replace("https://", "https://user:pw@"),
        good.replace("api.twilio.com", "api.twilio.com:8443"),
        good + "?redirect=http://127.0.0.1/",
        good + "/../../../Calls.json",
        good.replace("/Media/", "/Medias/"),
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://[::1/2010-04-01",
        "https://api.twilio.com:99999/x",
        "",
    ]
    for url in refused:
        assert twilio_media(url, settings) is None, url
    assert twilio_media(good, replace(settings, twilio_account_sid="AC" + "2" * 32)) is None


def test_a_file_is_checked_against_what_its_entry_commits_to():
    data = clean(media_files.phone_photo()).data
    item = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "type": "image/jpeg"}
    assert problem(7, item, data) is None
    assert problem(7, item, None).endswith("missing")
    assert problem(7, item, data[:-1] + b"\x00").endswith("bytes do not hash to it")
    assert "not the image/png" in problem(7, {**item, "type": "image/png"}, data)
    assert "bytes, the entry says" in problem(7, {**item, "size": 3}, data)


def test_a_camera_exif_pillow_cannot_rewrite_is_still_turned_and_dropped():
    data = media_files.mistyped_exif_jpeg()
    image = reopened(clean(data).data)
    assert image.size == (80, 160) and not image.getexif()


def test_a_multi_picture_jpeg_keeps_its_first_picture():
    kept = clean(media_files.multi_picture_jpeg())
    image = reopened(kept.data)
    assert image.format == "JPEG" and image.size == (160, 120)
    assert getattr(image, "n_frames", 1) == 1


def test_a_tiny_file_that_decodes_huge_is_refused_before_it_is_decoded():
    data = media_files.flat_webp()
    assert len(data) < 4096
    with pytest.raises(Refused, match="over 25 megapixels"):
        clean(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda url: url.replace("127.0.0.1", "127.0.0.\t1"),
        lambda url: url.replace("http://", "http://@"),
        lambda url: url + "\n",
        lambda url: " " + url,
        lambda url: url.replace("/Media/", "/Media\r/"),
    ],
    ids=["tab-in-host", "empty-userinfo", "newline", "leading-space", "carriage-return"],
)
def test_links_with_whitespace_or_userinfo_are_not_ours(damage):
    settings = Settings.load(
        {
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": "x" * 32,
            "twilio_api_url": "http://127.0.0.1:8000",
        },
        env={},
    )
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"
    url = "http://127.0.0.1:8000" + path
    assert twilio_media(url, settings) is not None
    assert twilio_media(damage(url), settings) is None
