#!/usr/bin/env python3
"""Split the Debian Reference's per-chapter HTML into one HTML file per section.

    scripts/devsets_split.py SRC_DIR LANG OUT_DIR     e.g. … usr/share/debian-reference zh-cn eval/corpora/zh

Called by scripts/devsets.sh; standard library only. SRC_DIR holds the package's pr01.LANG.html,
chNN.LANG.html and apa.LANG.html (index.LANG.html, the table of contents, is not read). OUT_DIR is
emptied of *.html and rewritten, so a run is reproducible.

The split rule (level h3, "1.2.3"):
  - every h3 section ("1.2.3.", with its h4 subsections) is one file:   ch01-s02-s03.html
  - an h2 section ("1.2.") without h3 subsections is one file:          ch01-s02.html
  - the text of an h2 section before its first h3 subsection:          ch01-s02-s00.html
  - the text of a chapter before its first section:                     ch01-s00.html
    (these two only when the text has more than one block; a lone one-line introduction such as
    "Here, we discuss manipulations of the disk image." is dropped)
The preface is pr01-…, the appendix apa-… ("A.1." gives apa-s01.html). Names come from the section
numbers printed in the headings, so they are stable across runs and the same in both languages.

Each file is polyglot HTML5/XHTML: <title>BOOK — CHAPTER — SECTION</title> and the section's markup
as the package ships it, with two exceptions: the self-closing non-void tags of the XHTML source
(`<a id="x"/>`, `<p/>`) are written `<a id="x"></a>`, `<p></p>` so that HTML parsers read them
right, and the chapter's footnotes that the section cites are appended to it. The table of contents,
the navigation header and footer and the chapter's title page are not copied.

At the end one line per language is printed with counts (to stderr), and, with --stats, a
tab-separated line per file: name, text bytes, share of prose paragraphs with CJK characters.
"""

import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

DIV = re.compile(r"<(/?)div\b[^>]*?(/?)>")
SECTION_OPEN = re.compile(r'<div class="(section|chapter|preface|appendix)"')
HEADING = re.compile(r'<h([1-4]) class="title">(.*?)</h\1>', re.S)
NUMBER = re.compile(r"^\s*([0-9A-Z]+(?:\.[0-9]+)*)\.\s")
SELF_CLOSING = re.compile(r"<(a|p)\b([^>]*?)\s*/>")
FOOTNOTE_REF = re.compile(r'href="#(ftn\.[^"]+)"')
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")


def strip_tags(fragment):
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def collapse(text):
    return re.sub(r"\s+", " ", text).strip()


class Div:
    __slots__ = ("kind", "start", "open_end", "close_start", "end", "children", "parent", "id")

    def __init__(self, kind, start, open_end):
        self.kind, self.start, self.open_end = kind, start, open_end
        self.close_start = self.end = None
        self.children, self.parent, self.id = [], None, None


def divs(source):
    """Every <div> of the file with its extent, as a tree (roots returned)."""
    roots, stack = [], []
    for m in DIV.finditer(source):
        closing, empty = m.group(1), m.group(2)
        if closing:
            if not stack:
                raise SystemExit(f"unbalanced </div> at offset {m.start()}")
            d = stack.pop()
            d.close_start, d.end = m.start(), m.end()
            continue
        cls = re.search(r'class="([^"]*)"', m.group(0))
        ident = re.search(r'\bid="([^"]*)"', m.group(0))
        d = Div(cls.group(1) if cls else "", m.start(), m.end())
        d.id = ident.group(1) if ident else None
        if stack:
            d.parent = stack[-1]
            stack[-1].children.append(d)
        else:
            roots.append(d)
        if empty:
            d.close_start = d.end = m.end()
        else:
            stack.append(d)
    if stack:
        raise SystemExit("unbalanced <div>: unclosed at end of file")
    return roots


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n.children)


def sub_sections(d):
    """The nearest <div class="section"> descendants of d."""
    out = []
    for c in d.children:
        if c.kind == "section":
            out.append(c)
        else:
            out.extend(sub_sections(c))
    return out


def heading_of(source, d):
    m = HEADING.search(source, d.open_end, d.close_start)
    if not m:
        raise SystemExit(f"no heading in section at offset {d.start}")
    return int(m.group(1)), collapse(strip_tags(m.group(2)))


def name_part(number):
    """'3' → 's03', '12' → 's12'."""
    return "s" + number.zfill(2)


def file_stem(prefix, number):
    # "1.2.3" → ch01-s02-s03 (chapter part from the file); "A.1" → apa-s01; preface "3.1" → pr01-s03-s01
    parts = number.split(".")
    if prefix.startswith(("ch", "ap")):
        parts = parts[1:]
    return "-".join([prefix] + [name_part(p) for p in parts])


def cut(source, start, end, holes):
    """source[start:end] without the ranges in holes (sorted, inside), and without the indentation
    line each hole leaves (holes are <div> blocks, never inside <pre>)."""
    out, at = [], start
    for h in holes:
        out.append(re.sub(r"\n[ \t]*$", "", source[at : h.start]))
        at = h.end
    out.append(source[at:end])
    return "".join(out)


class Blocks(HTMLParser):
    """Counts the top-level elements of a fragment, except a <div class="titlepage">."""

    VOID = {"br", "hr", "img", "col", "meta", "link"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.count = 0, 0

    def handle_starttag(self, tag, attrs):
        if self.depth == 0 and dict(attrs).get("class") != "titlepage" and tag not in self.VOID:
            self.count += 1
        if tag not in self.VOID:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            self.depth -= 1


def substantial(fragment):
    """An introduction worth a document of its own: more than one block (a paragraph and a table,
    two paragraphs …). A lone one-liner such as "Here, we discuss manipulations of the disk
    image." is not: as a document it could only be noise."""
    b = Blocks()
    b.feed(fragment)
    b.close()
    return b.count >= 2


class Prose(HTMLParser):
    """Text of a fragment, and its prose paragraphs: <p> outside tables, <pre> and <code>, of at
    least 20 letters (a URL or a package name alone is not prose)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.blocks, self.current, self.skip, self.table = [], [], None, 0, 0

    def handle_starttag(self, tag, attrs):
        if tag in ("pre", "code"):
            self.skip += 1
        elif tag == "table":
            self.table += 1
        elif tag == "p" and not self.table:
            self.flush()
            self.current = []

    def handle_endtag(self, tag):
        if tag in ("pre", "code"):
            self.skip = max(0, self.skip - 1)
        elif tag == "table":
            self.table = max(0, self.table - 1)
        elif tag == "p":
            self.flush()

    def handle_data(self, data):
        self.text.append(data)
        if self.current is not None and not self.skip:
            self.current.append(data)

    def flush(self):
        if self.current is not None:
            t = collapse("".join(self.current))
            if len(LATIN.findall(t)) + len(CJK.findall(t)) >= 20:
                self.blocks.append(t)
        self.current = None


def measure(fragment):
    p = Prose()
    p.feed(fragment)
    p.close()
    p.flush()
    text = collapse("".join(p.text))
    chinese = sum(1 for b in p.blocks if CJK.search(b))
    return len(text.encode("utf-8")), (chinese / len(p.blocks)) if p.blocks else None


PAGE = """<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="{lang}" xml:lang="{lang}">
<head>
<meta charset="utf-8"/>
<title>{title}</title>
</head>
<body>
{body}
</body>
</html>
"""


def main(argv):
    stats = "--stats" in argv
    argv = [a for a in argv if a != "--stats"]
    if len(argv) != 4:
        raise SystemExit(__doc__)
    src, lang, out = Path(argv[1]), argv[2], Path(argv[3])
    html_lang = {"zh-cn": "zh-CN"}.get(lang, lang)
    chapters = sorted(src.glob(f"pr*.{lang}.html")) + sorted(src.glob(f"ch*.{lang}.html"))
    chapters += sorted(src.glob(f"ap*.{lang}.html"))
    if len(chapters) < 10:
        raise SystemExit(f"{src}: expected the chapters *.{lang}.html, found {len(chapters)}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.html"):
        old.unlink()

    written = []
    for path in chapters:
        prefix = path.name.split(".")[0]  # pr01, ch01 … ch12, apa
        source = path.read_text(encoding="utf-8")
        book = re.search(r'<link rel="home" href="[^"]*" title="([^"]*)"', source)
        book = html.unescape(book.group(1)) if book else "Debian Reference"
        roots = divs(source)
        top = [d for d in walk(roots) if d.kind in ("chapter", "preface", "appendix")]
        if len(top) != 1:
            raise SystemExit(f"{path.name}: expected one chapter div, found {len(top)}")
        chapter = top[0]
        _, chapter_title = heading_of(source, chapter)
        footnotes = {d.id: source[d.start : d.end] for d in walk(roots) if d.kind == "footnote" and d.id}
        skip = [c for c in walk([chapter]) if c.kind in ("titlepage", "toc", "footnotes") and c.parent is chapter]

        def emit(stem, section_title, fragment):
            fragment = SELF_CLOSING.sub(r"<\1\2></\1>", fragment)
            cited = [fid for fid in dict.fromkeys(FOOTNOTE_REF.findall(fragment)) if fid in footnotes]
            if cited:
                notes = "\n".join(SELF_CLOSING.sub(r"<\1\2></\1>", footnotes[f]) for f in cited)
                fragment += f'\n<div class="footnotes">\n<hr/>\n{notes}\n</div>'
            parts = [book, chapter_title] + ([section_title] if section_title else [])
            title = html.escape(" — ".join(parts), quote=False)
            target = out / f"{stem}.html"
            if target.exists():
                raise SystemExit(f"{path.name}: two sections map to {target.name}")
            target.write_text(PAGE.format(lang=html_lang, title=title, body=fragment.strip("\n")), encoding="utf-8")
            written.append((target.name, fragment))

        # The chapter's own text before its first section (an introduction), if it has any.
        sections = sub_sections(chapter)
        intro_end = sections[0].start if sections else chapter.close_start
        intro = cut(source, chapter.open_end, intro_end, [s for s in skip if s.end <= intro_end])
        if substantial(intro):
            emit(f"{prefix}-s00", None, intro)

        for h2 in sections:
            level, title2 = heading_of(source, h2)
            num = NUMBER.match(title2)
            if level != 2 or not num:
                raise SystemExit(f"{path.name}: unexpected section heading h{level} {title2!r}")
            stem2 = file_stem(prefix, num.group(1))
            subs = sub_sections(h2)
            if not subs:
                emit(stem2, title2, source[h2.start : h2.end])
                continue
            # The h2's own text (heading, introduction) without its subsections, then each h3.
            own = cut(source, h2.start, h2.end, subs)
            if substantial(source[h2.open_end : subs[0].start]):
                emit(f"{stem2}-s00", title2, own)
            for h3 in subs:
                level3, title3 = heading_of(source, h3)
                num3 = NUMBER.match(title3)
                if level3 != 3 or not num3:
                    raise SystemExit(f"{path.name}: unexpected subsection heading h{level3} {title3!r}")
                emit(file_stem(prefix, num3.group(1)), title3, source[h3.start : h3.end])

    sizes, shares = [], []
    for name, fragment in written:
        size, share = measure(fragment)
        sizes.append(size)
        if share is not None:
            shares.append(share)
        if stats:
            print(f"{name}\t{size}\t{'' if share is None else f'{share:.2f}'}")
    sizes.sort()
    median = sizes[len(sizes) // 2]
    line = f"{lang}: {len(written)} files, text bytes median {median}, min {sizes[0]}, max {sizes[-1]}"
    line += f", {sum(1 for s in sizes if 1000 <= s <= 10000)} in 1–10 KB"
    if lang.startswith("zh"):
        mostly = sum(1 for s in shares if s >= 0.5)
        line += f"; {mostly}/{len(shares)} sections with prose have ≥50% of their paragraphs in Chinese"
        line += f" ({len(written) - len(shares)} are only tables or code)"
    print(line, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
