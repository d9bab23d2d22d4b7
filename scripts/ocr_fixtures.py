#!/usr/bin/env python3
"""Render adbrag's OCR test fixtures: scanned-looking pages drawn from real text.

    scripts/ocr_fixtures.py --font wqy-zenhei.ttc --out DIR [--texts tests/fixtures/ocr]

`scripts/ocr.sh fixtures DIR` runs this in its virtualenv (pinned Pillow and reportlab) with the font
it installed; tests/fixtures/ocr/README.md lists what is written. The texts are the paragraphs of
en.txt and zh.txt (separated by one blank line). Pages are A4, black text on white, 12 pt at the
page's dpi, word-wrapped (Chinese between any two characters), drawn with the font given. Every
file is the same on each run: random bytes come from fixed seeds and the PDFs carry no dates.
manifest.json says, for each file, what each page should read as.
"""

import argparse
import io
import json
import random
import sys
import unicodedata
import zlib
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

A4_INCHES = (8.2677, 11.6929)  # 210 x 297 mm
A4_POINTS = (595.276, 841.89)
MARGIN_INCHES = 1.0
FONT_POINTS = 12
LINE_HEIGHT = 1.45  # times the font size
PARAGRAPH_GAP = 0.6  # extra lines between paragraphs
JPEG_QUALITY = 85
SKEW_DEGREES = 3
LOW_CONTRAST = (150, 215)  # text, background
NOISE = 12  # the low-contrast page's noise: uniform in [-NOISE, +NOISE]
LANGUAGES = {"en": "eng", "zh": "chi_sim"}  # Tesseract's names

# Chinese punctuation that must not begin a line: it stays on the line before, past the margin.
NO_LINE_START = set("，。、；：？！）》」』】〉”’…—")


def page_size(dpi):
    return round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)


def is_wide(ch):
    return unicodedata.east_asian_width(ch) in "WF"


def tokens(text):
    """(token, space before it) pairs: words, and in Chinese each wide character on its own."""
    out, space, word = [], False, ""
    for ch in text:
        if ch == " " or is_wide(ch):
            if word:
                out.append((word, space))
                word, space = "", False
            if ch == " ":
                space = True
            else:
                out.append((ch, space))
                space = False
        else:
            word += ch
    if word:
        out.append((word, space))
    return out


def wrap(text, font, width):
    lines, line = [], ""
    for token, space in tokens(text):
        joined = line + (" " if space and line else "") + token
        if not line or font.getlength(joined) <= width or token in NO_LINE_START:
            line = joined
        else:
            lines.append(line)
            line = token
    if line:
        lines.append(line)
    return lines


class Renderer:
    def __init__(self, font_path):
        self.font_path = font_path
        self.fonts = {}

    def font(self, dpi):
        if dpi not in self.fonts:
            size = round(FONT_POINTS * dpi / 72)
            self.fonts[dpi] = ImageFont.truetype(self.font_path, size=size, index=0)
        return self.fonts[dpi]

    def page(self, paragraphs, dpi, fg=0, bg=255):
        """One A4 page (mode 'L') with the paragraphs, top to bottom."""
        width, height = page_size(dpi)
        margin = round(MARGIN_INCHES * dpi)
        font = self.font(dpi)
        line_height = round(font.size * LINE_HEIGHT)
        image = Image.new("L", (width, height), bg)
        draw = ImageDraw.Draw(image)
        y = margin
        for paragraph in paragraphs:
            for line in wrap(paragraph, font, width - 2 * margin):
                draw.text((margin, y), line, font=font, fill=fg)
                y += line_height
            y += round(line_height * PARAGRAPH_GAP)
        if y > height - margin:
            sys.exit(f"ocr_fixtures.py: the paragraphs do not fit on one page at {dpi} dpi")
        return image


def jpeg_bytes(image, dpi):
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=JPEG_QUALITY, dpi=(dpi, dpi))
    return buf.getvalue()


def add_noise(image, seed):
    noise = Image.frombytes("L", image.size, random.Random(seed).randbytes(image.width * image.height))
    noise = noise.point(lambda v: v * (2 * NOISE + 1) // 256)
    return ImageChops.add(image, noise, scale=1.0, offset=-NOISE)


class Pdf:
    """A minimal PDF writer: numbered objects, one xref table, no dates or IDs."""

    def __init__(self):
        self.objects = []

    def reserve(self):
        self.objects.append(None)
        return len(self.objects)

    def add(self, body, number=None):
        if isinstance(body, str):
            body = body.encode("ascii")
        if number is None:
            number = self.reserve()
        self.objects[number - 1] = body
        return number

    def stream(self, entries, data, number=None):
        head = f"<< {entries} /Length {len(data)} >>\nstream\n".encode("ascii")
        return self.add(head + data + b"\nendstream", number)

    def image(self, width, height, filter_name, data, bits=8):
        return self.stream(
            f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace /DeviceGray /BitsPerComponent {bits} /Filter /{filter_name}",
            data,
        )

    def full_page_content(self):
        """A content stream that draws /Im0 over the whole A4 page."""
        w, h = A4_POINTS
        return self.stream("", f"q {w} 0 0 {h} 0 0 cm /Im0 Do Q".encode("ascii"))

    def write(self, path, page_numbers, pages_number):
        kids = " ".join(f"{n} 0 R" for n in page_numbers)
        self.add(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_numbers)} >>", pages_number)
        catalog = self.add(f"<< /Type /Catalog /Pages {pages_number} 0 R >>")
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self.objects) + 1}\n0000000000 65535 f \n".encode("ascii")
        for offset in offsets:
            out += f"{offset:010d} 00000 n \n".encode("ascii")
        out += f"trailer\n<< /Size {len(self.objects) + 1} /Root {catalog} 0 R >>\n".encode("ascii")
        out += f"startxref\n{xref}\n%%EOF\n".encode("ascii")
        Path(path).write_bytes(bytes(out))


def image_pdf(path, images):
    """A PDF whose pages each show one image XObject over the whole page.

    images: (width, height, filter, data) per page; the same tuple object twice shares one XObject.
    """
    pdf = Pdf()
    pages_number = pdf.reserve()
    shared = {}
    page_numbers = []
    for spec in images:
        key = id(spec)
        if key not in shared:
            width, height, filter_name, data = spec
            xobject = pdf.image(width, height, filter_name, data)
            resources = pdf.add(f"<< /XObject << /Im0 {xobject} 0 R >> >>")
            shared[key] = (resources, pdf.full_page_content())
        resources, content = shared[key]
        w, h = A4_POINTS
        page_numbers.append(
            pdf.add(
                f"<< /Type /Page /Parent {pages_number} 0 R /MediaBox [0 0 {w} {h}] "
                f"/Resources {resources} 0 R /Contents {content} 0 R >>"
            )
        )
    pdf.write(path, page_numbers, pages_number)


def jpeg_page(image, dpi):
    return (image.width, image.height, "DCTDecode", jpeg_bytes(image, dpi))


def mixed_pdf(path, font_path, paragraphs, scanned_jpeg):
    """Page 1 and 3: real text (the TTF font embedded); page 2: a full-page JPEG of a scan."""
    from reportlab import rl_config
    from reportlab.lib.utils import ImageReader, simpleSplit
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    rl_config.useA85 = 0  # plain DCTDecode / FlateDecode streams, no ASCII85 layer
    pdfmetrics.registerFont(TTFont("WenQuanYiZenHei", font_path, subfontIndex=0))
    width, height = A4_POINTS
    margin = MARGIN_INCHES * 72
    leading = FONT_POINTS * LINE_HEIGHT
    c = canvas.Canvas(str(path), pagesize=A4_POINTS, invariant=1, pageCompression=1)
    c.setTitle("adbrag OCR fixture: mixed text and scanned pages")

    def text_page(paragraph):
        text = c.beginText(margin, height - margin - FONT_POINTS)
        text.setFont("WenQuanYiZenHei", FONT_POINTS, leading)
        for line in simpleSplit(paragraph, "WenQuanYiZenHei", FONT_POINTS, width - 2 * margin):
            text.textLine(line)
        c.drawText(text)
        c.showPage()

    text_page(paragraphs[0])
    c.drawImage(ImageReader(io.BytesIO(scanned_jpeg)), 0, 0, width=width, height=height)
    c.showPage()
    text_page(paragraphs[1])
    c.save()


def bomb_png(path, width=100_000, height=100_000):
    """A valid PNG header declaring width x height 8-bit gray pixels, with just two rows of data."""

    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(b"\x00" * (2 * (width + 1)), 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def read_paragraphs(path):
    text = Path(path).read_text(encoding="utf-8").strip("\n")
    paragraphs = text.split("\n\n")
    if len(paragraphs) < 6 or any(not p.strip() or "\n" in p for p in paragraphs):
        sys.exit(f"ocr_fixtures.py: {path} must hold 6 or more one-line paragraphs, separated by one blank line")
    return paragraphs


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--font", required=True, help="wqy-zenhei.ttc (scripts/ocr.sh env prints ADBRAG_OCR_FONT)")
    ap.add_argument("--out", required=True, help="directory to write the fixtures into")
    ap.add_argument("--texts", default=here.parent / "tests" / "fixtures" / "ocr", help="where en.txt, zh.txt are")
    args = ap.parse_args()

    texts = {lang: read_paragraphs(Path(args.texts) / f"{lang}.txt") for lang in LANGUAGES}
    out = Path(args.out)
    (out / "bad").mkdir(parents=True, exist_ok=True)
    render = Renderer(args.font)
    manifest = []

    def page(n, paras, lang, content="scanned", **extra):
        """A manifest page: the paragraphs (1-based) of the language it shows."""
        entry = {"page": n, "content": content, "paragraphs": [lang + str(p) for p in paras]}
        entry["text"] = "\n\n".join(texts[lang][p - 1] for p in paras)
        entry.update(extra)
        return entry

    def record(file, kind, langs, dpi, pages, page_count=None, **extra):
        entry = {"file": file, "kind": kind, "languages": [LANGUAGES[x] for x in langs], "dpi": dpi}
        entry["page_count"] = page_count if page_count is not None else len(pages)
        entry.update(extra)
        entry["pages"] = pages
        manifest.append(entry)
        print(f"ocr_fixtures.py: {file}", file=sys.stderr)

    first, second = [1, 2, 3], [4, 5, 6]
    pages = {}  # (language, "1-3" or "4-6", dpi) -> the rendered page
    for lang in LANGUAGES:
        for dpi in (150, 300):
            image = pages[lang, "1-3", dpi] = render.page(texts[lang][:3], dpi)
            image.save(out / f"{lang}-{dpi}.png", dpi=(dpi, dpi))
            record(f"{lang}-{dpi}.png", "png", [lang], dpi, [page(1, first, lang)])
        pages[lang, "4-6", 300] = render.page(texts[lang][3:6], 300)
        (out / f"{lang}-300.jpg").write_bytes(jpeg_bytes(pages[lang, "1-3", 300], 300))
        record(f"{lang}-300.jpg", "jpeg", [lang], 300, [page(1, first, lang)], quality=JPEG_QUALITY)
    en300, en300b = pages["en", "1-3", 300], pages["en", "4-6", 300]

    skewed = en300.rotate(SKEW_DEGREES, resample=Image.BICUBIC, fillcolor=255)
    skewed.save(out / "en-skewed-300.png", dpi=(300, 300))
    record("en-skewed-300.png", "png", ["en"], 300, [page(1, first, "en")],
           variant=f"rotated {SKEW_DEGREES} degrees counter-clockwise")

    low = render.page(texts["en"][:3], 300, fg=LOW_CONTRAST[0], bg=LOW_CONTRAST[1])
    add_noise(low, seed=20240611).save(out / "en-lowcontrast-300.png", dpi=(300, 300))
    record("en-lowcontrast-300.png", "png", ["en"], 300, [page(1, first, "en")],
           variant=f"text {LOW_CONTRAST[0]} on {LOW_CONTRAST[1]} gray, uniform noise +-{NOISE}")

    en300.save(out / "en-300.tiff", save_all=True, append_images=[en300b], compression="tiff_lzw", dpi=(300, 300))
    record("en-300.tiff", "tiff", ["en"], 300, [page(1, first, "en"), page(2, second, "en")], compression="lzw")

    image_pdf(out / "scanned.pdf", [jpeg_page(en300b, 300), jpeg_page(pages["zh", "4-6", 300], 300)])
    record("scanned.pdf", "pdf", ["en", "zh"], 300, [page(1, second, "en"), page(2, second, "zh")],
           image_filter="DCTDecode")

    flate = (en300.width, en300.height, "FlateDecode", zlib.compress(en300.tobytes(), 9))
    image_pdf(out / "scanned-flate.pdf", [flate])
    record("scanned-flate.pdf", "pdf", ["en"], 300, [page(1, first, "en")], image_filter="FlateDecode")

    scan200 = render.page(texts["en"][1:2], 200)
    mixed_pdf(out / "mixed.pdf", args.font, [texts["en"][0], texts["en"][2]], jpeg_bytes(scan200, 200))
    record("mixed.pdf", "pdf", ["en"], 200,
           [page(1, [1], "en", "text"), page(2, [2], "en", dpi=200), page(3, [3], "en", "text")],
           image_filter="DCTDecode")

    bomb_png(out / "bad" / "bomb.png")
    record("bad/bomb.png", "png", [], None, [], page_count=1,
           bad="declares 100000 x 100000 pixels (10^10) but holds two rows: refuse it before decoding")

    blank8 = Image.new("L", (8, 8), 255)
    blank8.save(out / "bad" / "frames-500.tiff", save_all=True, append_images=[blank8] * 499)
    record("bad/frames-500.tiff", "tiff", [], None, [], page_count=500,
           bad="500 blank 8x8 frames: more pages than a limit should allow")

    blank = jpeg_page(blank8, 72)
    image_pdf(out / "bad" / "blank-2000.pdf", [blank] * 2000)
    record("bad/blank-2000.pdf", "pdf", [], None, [], page_count=2000, image_filter="DCTDecode",
           bad="2000 pages showing one shared 8x8 white JPEG scaled to the page: more pages than a limit allows")

    zh300 = render.page(texts["zh"][:1], 300)
    garbage = (zh300.width, zh300.height, "DCTDecode", b"\xff\xd8" + random.Random(7).randbytes(4094))
    image_pdf(out / "bad" / "corrupt-image.pdf", [garbage, jpeg_page(zh300, 300)])
    corrupt = {"page": 1, "content": "scanned", "paragraphs": [], "text": None, "corrupt": True}
    record("bad/corrupt-image.pdf", "pdf", ["zh"], 300, [corrupt, page(2, [1], "zh")], image_filter="DCTDecode",
           bad="page 1's image stream is FF D8 then random bytes; page 2 is a good scan")

    text = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    print(f"ocr_fixtures.py: manifest.json ({len(manifest)} files)", file=sys.stderr)


if __name__ == "__main__":
    main()
