"""Textbook BM25 over adbrag's stored chunks: the reference issue 13's targets are stated against.

Okapi BM25 (k1 = 1.2, b = 0.75, IDF = ln(1 + (N - df + 0.5) / (df + 0.5))), scored exhaustively
over every chunk of a collection as the database stores it, with the reference's own terms:
Snowball (Porter 2) English stems for Latin words (`snowballstemmer`, no stop list) and jieba's
search mode for Chinese. Nothing of adbrag's analyzer is used, so the figures say how far
adbrag's keyword leg is from the textbook on the same chunks, not how good either is elsewhere.

    target/peers-venv/bin/python benches/peers/bm25_reference.py dev-en eval/dev-en.jsonl ...

Run through benches/peers/reference.sh, which builds its venv. Prints one line per set and
variant: `text` scores the chunk's text alone, `title+headings+text` prefixes the document title
and the chunk's heading path (what adbrag indexes).
"""

import argparse
import math
import os
import re
import sys
from collections import Counter

import jieba
import psycopg
import snowballstemmer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics import evaluate, read_jsonl, source_uri  # noqa: E402

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
WORD = re.compile(r"\w+")
STEM = snowballstemmer.stemmer("english")
jieba.setLogLevel(60)


def terms(text: str) -> list[str]:
    out = []
    position = 0
    for run in HAN.finditer(text):
        out.extend(latin(text[position : run.start()]))
        out.extend(w for w in jieba.cut_for_search(run.group()) if w.strip())
        position = run.end()
    out.extend(latin(text[position:]))
    return out


def latin(text: str) -> list[str]:
    return STEM.stemWords([w.lower() for w in WORD.findall(text)])


def bm25(chunks: list[tuple[str, list[str]]], k1: float, b: float):
    n = len(chunks)
    counts = [Counter(t) for _, t in chunks]
    lengths = [len(t) for _, t in chunks]
    mean = sum(lengths) / max(n, 1)
    df = Counter()
    for c in counts:
        df.update(c.keys())

    def search(query: str) -> list[str]:
        q = set(terms(query))
        scored = []
        for i, c in enumerate(counts):
            s = 0.0
            for t in q:
                tf = c.get(t)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / mean))
            if s > 0:
                scored.append((-s, i))
        scored.sort()
        return [chunks[i][0] for _, i in scored[:200]]

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="COLLECTION LABELS.jsonl ...")
    parser.add_argument("--k1", type=float, default=1.2)
    parser.add_argument("--b", type=float, default=0.75)
    args = parser.parse_args()
    if len(args.pairs) % 2:
        raise SystemExit("error: give COLLECTION LABELS.jsonl pairs")
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("error: DATABASE_URL is not set: run scripts/pg.sh and export its line")
    with psycopg.connect(url) as db:
        for collection, labels in zip(args.pairs[::2], args.pairs[1::2]):
            rows = db.execute(
                """SELECT d.source_uri, d.title, c.heading_path, c.text
                   FROM chunk c JOIN document d ON d.id = c.document_id
                   JOIN collection k ON k.id = d.collection_id
                   WHERE k.name = %s AND d.status = 'ready' ORDER BY c.id""",
                (collection,),
            ).fetchall()
            if not rows:
                raise SystemExit(f"error: collection {collection} has no chunks: ingest it first")
            labelled = read_jsonl(labels)
            for item in labelled:
                item["relevant"] = [source_uri(r) for r in item["relevant"]]
            variants = {
                "text": [(uri, terms(text)) for uri, _, _, text in rows],
                "title+headings+text": [
                    (uri, terms(" ".join([title or "", *(heads or []), text])))
                    for uri, title, heads, text in rows
                ],
            }
            for name, chunks in variants.items():
                search = bm25(chunks, args.k1, args.b)
                m = evaluate(labelled, [search(item["query"]) for item in labelled])
                print(
                    f"{collection}\t{name}\tchunks {len(chunks)}\thit@1 {m['hit@1']:.3f}"
                    f"\thit@5 {m['hit@5']:.3f}\tMRR@10 {m['mrr@10']:.3f}\tnDCG@10 {m['ndcg@10']:.3f}"
                )


if __name__ == "__main__":
    main()
