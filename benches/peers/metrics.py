"""Retrieval quality exactly as src/search/eval.rs computes it, for results that come from
anywhere (adbrag over HTTP, the peer in-process).

Relevance is binary and per document. Each ranked list of source URIs (chunks: a document may
repeat) is first reduced to its distinct documents, each at its best (first) position, and cut at
10; ranks are 1-based positions in that reduced list. For a query whose first relevant document is
at rank r: hit@k = 1 if r <= k; reciprocal rank = 1/r; nDCG@10 = sum of 1/log2(rank + 1) over the
relevant documents in the top 10, divided by the same sum over ranks 1..min(|relevant|, 10).
A query with no ranked list found nothing. The means over the queries are returned.

`python3 metrics.py` runs the same cases as eval.rs's unit tests.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

CUTOFF = 10


def read_jsonl(path: str) -> list[dict]:
    """The labelled set: one {"query", "relevant": [...]} per line; blank and # lines skipped."""
    items = []
    text = Path(path).read_text(encoding="utf-8")
    text = text.removeprefix("\ufeff")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"error: {path}:{number}: not JSON ({err.msg})") from None
        query = item.get("query")
        relevant = item.get("relevant")
        if not isinstance(query, str) or not query.strip():
            raise SystemExit(f'error: {path}:{number}: "query" is missing or empty')
        if not isinstance(relevant, list) or not relevant or not all(
            isinstance(r, str) and r.strip() for r in relevant
        ):
            raise SystemExit(f'error: {path}:{number}: "relevant" must be a non-empty list of paths')
        items.append({"query": query, "relevant": relevant})
    if not items:
        raise SystemExit(f"error: {path}: no labelled queries found")
    return items


def source_uri(relevant: str) -> str:
    """What `adbrag eval` does (src/cli/eval.rs): a path without "://" that exists becomes
    file:// + its canonical path (as `adbrag ingest` stored it); anything else is kept."""
    if "://" in relevant:
        return relevant
    try:
        if os.path.exists(relevant):
            return "file://" + os.path.realpath(relevant, strict=True)
    except OSError:
        pass
    return relevant


def distinct_top(returned: list[str]) -> list[str]:
    seen: set[str] = set()
    top = []
    for uri in returned:
        if uri not in seen:
            seen.add(uri)
            top.append(uri)
            if len(top) == CUTOFF:
                break
    return top


def first_rank(relevant: list[str], returned: list[str]) -> int | None:
    """The 1-based rank of the first relevant document among the top 10 distinct ones."""
    wanted = set(relevant)
    for position, uri in enumerate(distinct_top(returned)):
        if uri in wanted:
            return position + 1
    return None


def gain(rank: int) -> float:
    return 1.0 / math.log2(rank + 1.0)


def evaluate(labelled: list[dict], ranked: list[list[str]]) -> dict:
    keys = ["hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10"]
    total = dict.fromkeys(keys, 0.0)
    if not labelled:
        return {"queries": 0, **total}
    for i, item in enumerate(labelled):
        relevant = set(item["relevant"])
        returned = ranked[i] if i < len(ranked) else []
        hits = [
            position + 1
            for position, uri in enumerate(distinct_top(returned))
            if uri in relevant
        ]
        if hits:
            first = hits[0]
            for k in (1, 3, 5, 10):
                total[f"hit@{k}"] += 1.0 if first <= k else 0.0
            total["mrr@10"] += 1.0 / first
            dcg = sum(gain(rank) for rank in hits)
            ideal = sum(gain(rank) for rank in range(1, min(len(relevant), CUTOFF) + 1))
            total["ndcg@10"] += dcg / ideal
    n = float(len(labelled))
    return {"queries": len(labelled), **{k: v / n for k, v in total.items()}}


def _self_test() -> None:
    def close(a: float, b: float) -> None:
        assert abs(a - b) < 1e-9, (a, b)

    def lab(*relevant: str) -> dict:
        return {"query": "q", "relevant": list(relevant)}

    m = evaluate([lab("b")], [["a", "b", "c"]])
    close(m["hit@1"], 0.0), close(m["hit@3"], 1.0), close(m["mrr@10"], 0.5)
    close(m["ndcg@10"], 1.0 / math.log2(3))
    m = evaluate([lab("a", "c")], [["a", "b", "c"]])
    close(m["ndcg@10"], 1.5 / (1.0 + 1.0 / math.log2(3)))
    m = evaluate([lab("a", "x", "y")], [["a", "b"]])
    close(m["ndcg@10"], 1.0 / (1.0 + 1.0 / math.log2(3) + 0.5))
    relevant = [f"d{i}" for i in range(12)]
    close(evaluate([lab(*relevant)], [relevant])["ndcg@10"], 1.0)
    m = evaluate([lab("b")], [["a", "a", "a", "b", "b"]])
    close(m["mrr@10"], 0.5)
    close(evaluate([lab("a")], [["a", "a", "a"]])["ndcg@10"], 1.0)
    uris = [f"n{i}" for i in range(1, 10)] + ["hit"]
    m = evaluate([lab("hit")], [uris])
    close(m["hit@5"], 0.0), close(m["hit@10"], 1.0), close(m["mrr@10"], 0.1)
    m = evaluate([lab("hit")], [["n0"] + uris])
    close(m["hit@10"], 0.0), close(m["mrr@10"], 0.0)
    m = evaluate([lab("a"), lab("b"), lab("c")], [["a"], ["x", "y", "b"]])
    assert m["queries"] == 3
    close(m["hit@1"], 1 / 3), close(m["hit@3"], 2 / 3), close(m["mrr@10"], (1 + 1 / 3) / 3)
    close(m["ndcg@10"], 1.5 / 3)
    assert evaluate([], [])["queries"] == 0
    print("metrics: 9 passed, 0 failed")


if __name__ == "__main__":
    _self_test()
