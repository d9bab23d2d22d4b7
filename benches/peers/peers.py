"""adbrag and a peer side by side: the same chunks, the same vectors, the same query vectors, the
same PostgreSQL server; only retrieval differs. Run through run.sh, which makes the venv:

    benches/peers/run.sh COLLECTION LABELS.jsonl [COLLECTION LABELS.jsonl ...]

The peer is langchain-postgres's PGVectorStore with its hybrid search (HybridSearchConfig), called
in-process through its async Python API, as a LangChain application uses it. adbrag is called
through its HTTP search API, as a client sees it. README.md beside this file says what is
measured and what is not fair.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx
import psycopg
from langchain_core.embeddings import Embeddings

import langchain_postgres
from langchain_postgres import PGEngine, PGVectorStore
from langchain_postgres.v2.hybrid_search_config import (
    HybridSearchConfig,
    reciprocal_rank_fusion,
    weighted_sum_ranking,
)
from langchain_postgres.v2.indexes import HNSWIndex, HNSWQueryOptions

import metrics

HERE = Path(__file__).resolve().parent
LOCAL_MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384
TENANT = "default"
# adbrag's settings (src/config.rs defaults, or the caller's), given to the peer too: candidates
# per leg, HNSW ef_search, connection pool size.
ADBRAG_CANDIDATES = int(os.environ.get("ADBRAG_SEARCH_CANDIDATES", 50))
ADBRAG_EF_SEARCH = int(os.environ.get("ADBRAG_HNSW_EF_SEARCH", 100))
ADBRAG_POOL = int(os.environ.get("ADBRAG_DB_MAX_CONNECTIONS", 16))
MIN_QUERY_COSINE = 0.9999


def say(message: str) -> None:
    print(f"peers: {message}", file=sys.stderr, flush=True)


class Refusal(Exception):
    """A precondition a person must fix; printed as one `error:` line."""


# ---------------------------------------------------------------------------------------------
# Processes this run starts (and only those are stopped, by their own handle).


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log_file,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log_file.close()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


CHILDREN: list[Child] = []


def stop_children() -> None:
    while CHILDREN:
        CHILDREN.pop().stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The caller's ADBRAG_* settings that reach adbrag (search tuning, say); not the embedder, the
# reranker (it would call out), the bind address, auth or the log format.
PASSED = {
    k for k in os.environ
    if k.startswith("ADBRAG_") and not k.startswith(("ADBRAG_EMBEDDING_", "ADBRAG_RERANK_"))
    and k not in ("ADBRAG_INSECURE_NO_AUTH", "ADBRAG_BIND", "ADBRAG_LOG_FORMAT", "ADBRAG_MODELS_DIR",
                  "ADBRAG_BIN")
}


def adbrag_env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """The environment for an adbrag command: the database, the local model directory, quiet
    logs, and none of the caller's embedding or auth settings unless given here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADBRAG_") or k in PASSED}
    env["DATABASE_URL"] = args.database_url
    env["ADBRAG_MODELS_DIR"] = args.models_dir
    env["RUST_LOG"] = "warn"
    env["ADBRAG_LOG_FORMAT"] = "pretty"
    env.update(extra)
    return env


def run_adbrag(args: argparse.Namespace, *argv: str, env: dict[str, str] | None = None,
               timeout: float = 1800) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [args.binary, *argv], env=env or adbrag_env(args), capture_output=True, text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise Refusal(f"`adbrag {' '.join(argv)}` failed: {result.stderr.strip()[-800:]}")
    return result


def start_adbrag(args: argparse.Namespace, name: str, env: dict[str, str]) -> tuple[str, Child]:
    port = free_port()
    child = Child(
        name, [args.binary, "serve", "--bind", f"127.0.0.1:{port}"], env,
        args.out_dir / f"{name}.log",
    )
    CHILDREN.append(child)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise Refusal(f"adbrag serve ({name}) exited: {child.tail()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url, child
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise Refusal(f"adbrag serve ({name}) was not ready within 120 s: {child.tail()}")


def start_lookup(args: argparse.Namespace, vectors: dict[str, list[float]]) -> tuple[str, Child]:
    spec = args.out_dir / "query-vectors.json"
    spec.write_text(json.dumps({"model": LOCAL_MODEL, "vectors": vectors}))
    child = Child(
        "embeddings", [sys.executable, str(HERE / "embed_server.py"), str(spec)],
        dict(os.environ), args.out_dir / "embeddings.log",
    )
    CHILDREN.append(child)
    line = child.proc.stdout.readline().decode().strip()  # bounded: the server prints one line
    if not line.startswith("PORT "):
        raise Refusal(f"the embeddings lookup server did not start: {child.tail()}")
    return f"http://127.0.0.1:{line.split()[1]}/v1", child


# ---------------------------------------------------------------------------------------------
# adbrag's database: what was ingested, read as it is stored.


def collection_row(db: psycopg.Connection, name: str) -> dict:
    row = db.execute(
        """SELECT c.id, c.embedding_model, c.dimensions,
                  (SELECT count(*) FROM chunk k JOIN document d ON d.id = k.document_id
                    WHERE k.collection_id = c.id AND d.status = 'ready') AS chunks,
                  (SELECT count(*) FROM document d WHERE d.collection_id = c.id
                    AND d.status = 'ready') AS documents
           FROM collection c WHERE c.tenant = %s AND c.name = %s""",
        (TENANT, name),
    ).fetchone()
    hint = f"ingest it first: {os.path.relpath(RELEASE_HINT)} ingest <dir> --collection {name}"
    if row is None:
        raise Refusal(f"collection '{name}' does not exist in tenant '{TENANT}': {hint}")
    cid, model, dims, chunks, documents = row
    if chunks == 0:
        raise Refusal(f"collection '{name}' is empty (no chunk of a ready document): {hint}")
    if model != LOCAL_MODEL or dims != DIMENSIONS:
        raise Refusal(
            f"collection '{name}' holds {model} vectors ({dims} dimensions): this harness gets query "
            f"vectors from adbrag's local {LOCAL_MODEL}; use a collection ingested without "
            "ADBRAG_EMBEDDING_BASE_URL"
        )
    return {"id": cid, "chunks": chunks, "documents": documents}


def read_chunks(db: psycopg.Connection, collection_id) -> list[dict]:
    rows = db.execute(
        f"""SELECT c.id::text, c.text, v.embedding::text, d.source_uri
           FROM chunk c JOIN document d ON d.id = c.document_id
           JOIN chunk_vector_{DIMENSIONS} v ON v.chunk_id = c.id
           WHERE c.collection_id = %s AND d.status = 'ready' ORDER BY c.id""",
        (collection_id,),
    ).fetchall()
    return [
        {"id": i, "text": t, "embedding_text": e, "embedding": json.loads(e), "source_uri": u}
        for i, t, e, u in rows
    ]


def fingerprint(chunks: list[dict]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        for part in (c["id"], c["text"], c["embedding_text"], c["source_uri"]):
            h.update(part.encode())
            h.update(b"\0")
    return h.hexdigest()


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# ---------------------------------------------------------------------------------------------
# Query vectors from adbrag's own local model.


def query_vectors(args: argparse.Namespace, db: psycopg.Connection, queries: list[str],
                  scratch: str) -> dict[str, list[float]]:
    """Each query becomes a one-paragraph .txt document in a scratch collection, ingested with
    the local embedder. A .txt has no title and a paragraph no heading, so the pipeline's
    embedding input (src/ingest/pipeline.rs `embed_input`) is the chunk text alone; that text is
    checked to equal the trimmed query, which is what search embeds (src/search/retrieve.rs)."""
    if db.execute("SELECT 1 FROM collection WHERE tenant = %s AND name = %s",
                  (TENANT, scratch)).fetchone():
        raise Refusal(f"scratch collection '{scratch}' already exists: delete it or rerun")
    tmp = Path(tempfile.mkdtemp(prefix="adbrag-peers-queries-"))
    try:
        by_uri = {}
        for i, q in enumerate(queries):
            path = tmp / f"q{i:05d}.txt"
            path.write_text(q + "\n", encoding="utf-8")
            by_uri["file://" + os.path.realpath(path)] = q
        say(f"embedding {len(queries)} queries with adbrag's local {LOCAL_MODEL} "
            f"(ingest into scratch collection '{scratch}')")
        run_adbrag(args, "ingest", str(tmp), "--collection", scratch)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = db.execute(
        f"""SELECT d.source_uri, count(*) OVER (PARTITION BY d.id), c.text, v.embedding::text
           FROM chunk c JOIN document d ON d.id = c.document_id
           JOIN chunk_vector_{DIMENSIONS} v ON v.chunk_id = c.id
           JOIN collection col ON col.id = c.collection_id
           WHERE col.tenant = %s AND col.name = %s""",
        (TENANT, scratch),
    ).fetchall()
    vectors: dict[str, list[float]] = {}
    problems = []
    for uri, n, text, embedding in rows:
        q = by_uri.get(uri)
        if q is None:
            continue
        if n != 1 or text != q:
            problems.append(f"{q!r} became {n} chunk(s), first {text!r}")
            continue
        vectors[q] = json.loads(embedding)
    missing = [q for q in queries if q not in vectors]
    if problems or missing:
        raise Refusal(
            "some queries could not be embedded exactly as search embeds them: "
            + "; ".join(problems[:5] + [f"{q!r} was not ingested" for q in missing[:5]])
        )
    return vectors


# ---------------------------------------------------------------------------------------------
# adbrag over HTTP.


class Adbrag:
    def __init__(self, url: str, key: str):
        self.url = url
        self.headers = {"authorization": f"Bearer {key}"}
        self.client = httpx.AsyncClient(
            timeout=60, headers=self.headers,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def search(self, collection: str, query: str, top_k: int, mode: str) -> dict:
        r = await self.client.post(
            f"{self.url}/v1/collections/{collection}/search",
            json={"query": query, "top_k": top_k, "mode": mode},
        )
        if r.status_code != 200:
            raise RuntimeError(f"adbrag search answered {r.status_code}: {r.text[:300]}")
        return r.json()

    async def delete_collection(self, name: str) -> None:
        r = await self.client.delete(f"{self.url}/v1/collections/{name}")
        if r.status_code not in (204, 404):
            raise RuntimeError(f"deleting collection {name} answered {r.status_code}: {r.text}")

    async def close(self) -> None:
        await self.client.aclose()


# ---------------------------------------------------------------------------------------------
# The peer.


class LookupEmbeddings(Embeddings):
    """The peer's embedding model: the same OpenAI-protocol lookup server adbrag is pointed at,
    one HTTP request per query over a kept-alive connection, as adbrag's embedder does."""

    def __init__(self, base_url: str):
        self.url = base_url + "/embeddings"
        self._clients: dict[int, httpx.AsyncClient] = {}

    def _body(self, texts: list[str]) -> dict:
        return {"model": LOCAL_MODEL, "input": texts, "dimensions": DIMENSIONS,
                "encoding_format": "float"}

    @staticmethod
    def _vectors(r: httpx.Response) -> list[list[float]]:
        r.raise_for_status()
        return [d["embedding"] for d in sorted(r.json()["data"], key=lambda d: d["index"])]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._vectors(httpx.post(self.url, json=self._body(texts), timeout=60))

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        # One client per event loop (PGEngine runs the store's coroutines on its own loop).
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = httpx.AsyncClient(
                timeout=60, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        return self._vectors(await client.post(self.url, json=self._body(texts)))

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]


def peer_table(collection: str) -> str:
    return "adbrag_" + collection.replace("-", "_")


def peer_config(table: str, **changes) -> HybridSearchConfig:
    """The peer's HybridSearchConfig with its own defaults (tsv_lang 'pg_catalog.english',
    plainto_tsquery, ts_rank_cd, weighted_sum_ranking 0.5/0.5 over min-max normalised scores)
    except: the tsv column and index name the table needs, and each leg's candidates set to
    adbrag's (50) instead of 4, unless `changes` say otherwise."""
    base = dict(
        tsv_column="content_tsv",
        index_name=f"{table}_tsv_index",
        primary_top_k=ADBRAG_CANDIDATES,
        secondary_top_k=ADBRAG_CANDIDATES,
    )
    base.update(changes)
    return HybridSearchConfig(**base)


def fresh(config: HybridSearchConfig | None) -> HybridSearchConfig | None:
    """A copy per search: langchain-postgres 0.0.19 writes the first query into the config it is
    given (`fts_query`) and keeps using it for every later keyword search on that config
    (langchain-ai/langchain-postgres#337, #288), and writes `fetch_top_k` into its parameters."""
    if config is None:
        return None
    return dataclasses.replace(
        config, fts_query="",
        fusion_function_parameters=dict(config.fusion_function_parameters),
    )


PEER_VARIANTS = {
    # name: (HybridSearchConfig changes, or None for the vector store without hybrid search)
    "peer hybrid": {},
    "peer hybrid, as shipped (4+4)": {"primary_top_k": 4, "secondary_top_k": 4},
    "peer hybrid, RRF": {"fusion_function": reciprocal_rank_fusion},
    "peer vector": None,
    "peer keyword": {"primary_top_k": 0},
}


class Peer:
    def __init__(self, engine: PGEngine, store: PGVectorStore, table: str):
        self.engine = engine
        self.store = store
        self.table = table
        self.configs = {
            name: None if changes is None else peer_config(table, **changes)
            for name, changes in PEER_VARIANTS.items()
        }

    async def search(self, query: str, k: int, variant: str = "peer hybrid"):
        return await self.store.asimilarity_search(
            query, k=k, hybrid_search_config=fresh(self.configs[variant])
        )


async def load_peer(args: argparse.Namespace, engine: PGEngine, admin: psycopg.Connection,
                    collection: str, chunks: list[dict], embeddings: Embeddings) -> tuple[Peer, dict]:
    table = peer_table(collection)
    config = peer_config(table)
    fp = fingerprint(chunks)
    admin.execute(
        """CREATE TABLE IF NOT EXISTS peers_loaded (table_name text PRIMARY KEY,
           fingerprint text NOT NULL, chunks integer NOT NULL, loaded_at timestamptz NOT NULL)"""
    )
    row = admin.execute(
        "SELECT fingerprint FROM peers_loaded WHERE table_name = %s AND to_regclass(%s) IS NOT NULL",
        (table, f'public."{table}"'),
    ).fetchone()
    info = {"table": table, "database": args.peer_database, "chunks": len(chunks),
            "reloaded": row is None or row[0] != fp}
    if info["reloaded"]:
        say(f"loading {len(chunks)} chunks of '{collection}' into {args.peer_database}.{table} "
            "through PGVectorStore.aadd_embeddings")
        started = time.perf_counter()
        await engine.ainit_vectorstore_table(
            table, DIMENSIONS, hybrid_search_config=config, overwrite_existing=True
        )
        store = await PGVectorStore.create(
            engine, embedding_service=embeddings, table_name=table,
            hybrid_search_config=config,
            index_query_options=HNSWQueryOptions(ef_search=ADBRAG_EF_SEARCH),
        )
        batch = 500
        for start in range(0, len(chunks), batch):
            part = chunks[start:start + batch]
            await store.aadd_embeddings(
                [c["text"] for c in part], [c["embedding"] for c in part],
                metadatas=[{"source_uri": c["source_uri"]} for c in part],
                ids=[c["id"] for c in part],
            )
        await store.aapply_vector_index(HNSWIndex())  # m=16, ef_construction=64, as adbrag's
        await store.aapply_hybrid_search_index()  # GIN on content_tsv
        admin.execute(f'ANALYZE "{table}"')
        admin.execute(
            """INSERT INTO peers_loaded VALUES (%s, %s, %s, now()) ON CONFLICT (table_name)
               DO UPDATE SET fingerprint = EXCLUDED.fingerprint, chunks = EXCLUDED.chunks,
               loaded_at = EXCLUDED.loaded_at""",
            (table, fp, len(chunks)),
        )
        info["load_seconds"] = round(time.perf_counter() - started, 1)
    else:
        say(f"{args.peer_database}.{table} already holds these {len(chunks)} chunks")
        store = await PGVectorStore.create(
            engine, embedding_service=embeddings, table_name=table,
            hybrid_search_config=config,
            index_query_options=HNSWQueryOptions(ef_search=ADBRAG_EF_SEARCH),
        )
    # Same rows, same text, same vectors (compared as PostgreSQL prints them), same source URI.
    stored = {
        i: (t, e, u) for i, t, e, u in admin.execute(
            f'SELECT langchain_id::text, content, embedding::text, langchain_metadata->>\'source_uri\' '
            f'FROM "{table}"'
        ).fetchall()
    }
    same = sum(
        1 for c in chunks
        if stored.get(c["id"]) == (c["text"], c["embedding_text"], c["source_uri"])
    )
    if same != len(chunks) or len(stored) != len(chunks):
        raise Refusal(f"the peer's table {table} differs from adbrag's chunks "
                      f"({same} of {len(chunks)} identical, {len(stored)} rows)")
    info["identical_rows"] = same
    return Peer(engine, store, table), info


# ---------------------------------------------------------------------------------------------
# Measurement.


TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int | str) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _postgres_cpu() -> float:
    """CPU of every PostgreSQL process on this machine: the cluster both systems share."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _proc_cpu(entry.name)
            except OSError:
                pass
    return total


class CpuMeter:
    """CPU seconds spent by this Python process (client, and the peer in-process), the adbrag
    server, the lookup server and PostgreSQL, between two readings."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def read(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {"python client process": usage.ru_utime + usage.ru_stime}
        out.update({name: _proc_cpu(pid) for name, pid in self.pids.items()})
        out["postgresql"] = _postgres_cpu()
        return out


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest rank."""
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


async def drive(call, queries: list[str], passes: int, concurrency: int,
                cpu: CpuMeter | None = None) -> dict:
    """Every query `passes` times, `concurrency` callers at once; a bounded list of calls."""
    jobs = iter([q for _ in range(passes) for q in queries])
    latencies: list[float] = []

    async def caller() -> None:
        for q in jobs:
            t = time.perf_counter()
            await call(q)
            latencies.append((time.perf_counter() - t) * 1000)

    before = cpu.read() if cpu else {}
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    after = cpu.read() if cpu else {}
    latencies.sort()
    n = len(latencies)
    return {"calls": n, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "qps": n / wall,
            "cpu_ms_per_call": {k: (after[k] - before[k]) * 1000 / n for k in before}}


async def quality(args, local: Adbrag, lookup: Adbrag, peer: Peer, item: dict) -> dict:
    """Top `quality_top_k` chunks per query from each system, reduced and scored as eval.rs does.
    adbrag answers with its own local model (`local`), exactly as it serves that collection;
    `lookup` (the same binary, query vectors looked up) is compared with it, ranking by ranking."""
    collection = item["collection"]
    labelled = item["labelled"]
    queries = [x["query"].strip() for x in labelled]
    k = args.quality_top_k
    ranked: dict[str, list[list[str]]] = {}
    ids: dict[str, list[list[str]]] = {}
    notes: dict[str, list[str]] = {}
    for server, modes in ((local, ("hybrid", "vector", "keyword")), (lookup, ("hybrid", "vector"))):
        for mode in modes:
            uris, chunk_ids = [], []
            for q in queries:
                r = await server.search(collection, q, k, mode)
                uris.append([h["source_uri"] for h in r["hits"]])
                chunk_ids.append([h["chunk_id"] for h in r["hits"]])
                if server is local and mode == "hybrid" and r.get("notes"):
                    notes[q] = r["notes"]
            name = f"adbrag {mode}" if server is local else f"adbrag {mode} (lookup)"
            ranked[name] = uris
            ids[name] = chunk_ids
    for variant in PEER_VARIANTS:
        lists, chunk_ids = [], []
        for q in queries:
            docs = await peer.search(q, k, variant)
            lists.append([d.metadata["source_uri"] for d in docs])
            chunk_ids.append([d.id for d in docs])
        ranked[variant] = lists
        ids[variant] = chunk_ids
    scores = {}
    for name, lists in ranked.items():
        if name.endswith("(lookup)"):
            continue
        scores[name] = metrics.evaluate(labelled, lists)
        scores[name]["mean_results"] = statistics.mean(len(x) for x in lists)
    first = {
        name: [metrics.first_rank(x["relevant"], lists[i]) for i, x in enumerate(labelled)]
        for name, lists in ranked.items()
    }

    def rr(rank: int | None) -> float:
        return 1.0 / rank if rank else 0.0

    def same(a: str, b: str) -> int:
        return sum(1 for x, y in zip(ids[a], ids[b]) if x == y)

    peer_vs = {"better": 0, "worse": 0, "same": 0}
    for p_rank, a_rank in zip(first["peer hybrid"], first["adbrag hybrid"]):
        d = rr(p_rank) - rr(a_rank)
        peer_vs["same" if abs(d) < 1e-12 else "better" if d > 0 else "worse"] += 1
    return {
        "quality": scores,
        "peer_hybrid_vs_adbrag_hybrid": peer_vs,
        "lookup_identical": {
            "vector": f"{same('adbrag vector', 'adbrag vector (lookup)')}/{len(queries)}",
            "hybrid": f"{same('adbrag hybrid', 'adbrag hybrid (lookup)')}/{len(queries)}",
        },
        # Same vectors, two HNSW indexes (adbrag's spans every collection): how often the vector
        # legs return the very same top chunks, in the same order.
        "peer_vector_identical_to_adbrag_vector": f"{same('peer vector', 'adbrag vector')}/{len(queries)}",
        "per_query": [
            {"query": q, "relevant": x["relevant"],
             "first_relevant_rank": {name: ranks[i] for name, ranks in first.items()},
             "adbrag_notes": notes.get(q, [])}
            for i, (q, x) in enumerate(zip(queries, labelled))
        ],
    }


async def latency(args, adbrag: Adbrag, peer: Peer, item: dict, cpu: CpuMeter) -> dict:
    """Hybrid, top_k `latency_top_k`, both systems called from this process, `runs` times each,
    alternating which goes first; medians of the runs."""
    collection = item["collection"]
    queries = [x["query"].strip() for x in item["labelled"]]
    top = args.latency_top_k

    async def call_adbrag(q: str) -> None:
        await adbrag.search(collection, q, top, "hybrid")

    async def call_peer(q: str) -> None:
        await peer.search(q, top)

    systems = {"adbrag": call_adbrag, "peer": call_peer}
    # A fixed count: `passes` over the queries, more for a small set so a run has min_calls.
    passes = max(args.passes, math.ceil(args.min_calls / len(queries)))
    say(f"{collection}: latency, {args.runs} runs of {passes} passes x {len(queries)} "
        f"queries at concurrency {args.concurrency}")
    for call in systems.values():  # warm-up, not counted
        await drive(call, queries, 1, args.concurrency)
    alone = {name: await drive(call, queries, 1, 1) for name, call in systems.items()}
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {name: [] for name in systems}
    for run in range(args.runs):
        order = list(systems) if run % 2 == 0 else list(reversed(systems))
        for name in order:
            runs[name].append(
                await drive(systems[name], queries, passes, args.concurrency, cpu))
    out: dict = {
        name: {
            "p50_ms": statistics.median(r["p50_ms"] for r in rs),
            "p95_ms": statistics.median(r["p95_ms"] for r in rs),
            "qps": statistics.median(r["qps"] for r in rs),
            "cpu_ms_per_call": {
                k: statistics.median(r["cpu_ms_per_call"][k] for r in rs)
                for k in rs[0]["cpu_ms_per_call"]
            },
            "alone_p50_ms": alone[name]["p50_ms"],
            "runs": rs,
        }
        for name, rs in runs.items()
    }
    out["peer/adbrag"] = {
        key: out["peer"][key] / out["adbrag"][key] for key in ("p50_ms", "p95_ms", "qps")
    }
    out["passes"] = passes
    out["calls_per_run"] = passes * len(queries)
    out["load_average_before"] = load_before
    return out


# ---------------------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    out = []
    for s in report["sets"]:
        out.append(f"\n{s['collection']} ({s['labels']}): {s['queries']} queries, "
                   f"{s['chunks']} chunks in {s['documents']} documents; top {report['settings']['quality_top_k']} "
                   "chunks -> distinct documents")
        out.append(f"  {'system':<32} {'MRR@10':>7} {'hit@5':>6} {'hit@1':>6} {'hit@10':>7} "
                   f"{'nDCG@10':>8} {'results':>8}")
        for name, m in s["quality"].items():
            out.append(f"  {name:<32} {m['mrr@10']:>7.3f} {m['hit@5']:>6.3f} {m['hit@1']:>6.3f} "
                       f"{m['hit@10']:>7.3f} {m['ndcg@10']:>8.3f} {m['mean_results']:>8.1f}")
        lat = s["latency"]
        st = report["settings"]
        out.append(f"  latency: hybrid, top_k {st['latency_top_k']}, concurrency {st['concurrency']}, "
                   f"{lat['passes']} passes x {s['queries']} queries = {lat['calls_per_run']} calls "
                   f"per run, median of {st['runs']} runs")
        parts = list(lat["adbrag"]["cpu_ms_per_call"])
        short = {"python client process": "py", "adbrag serve": "adbrag", "embeddings lookup": "lookup",
                 "postgresql": "pg"}
        out.append(f"  {'system':<32} {'p50 ms':>7} {'p95 ms':>7} {'QPS':>7} {'alone p50':>10}   "
                   "CPU ms per call: " + " ".join(f"{short.get(k, k):>6}" for k in parts))
        for name in ("adbrag", "peer"):
            cpu = lat[name]["cpu_ms_per_call"]
            out.append(f"  {name:<32} {lat[name]['p50_ms']:>7.1f} {lat[name]['p95_ms']:>7.1f} "
                       f"{lat[name]['qps']:>7.1f} {lat[name]['alone_p50_ms']:>10.1f}   "
                       + " " * 17 + " ".join(f"{cpu[k]:>6.2f}" for k in parts))
        r = lat["peer/adbrag"]
        out.append(f"  {'peer/adbrag':<32} {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} {r['qps']:>7.2f}")
        pv = s["peer_hybrid_vs_adbrag_hybrid"]
        out.append(f"  peer hybrid against adbrag hybrid, by reciprocal rank: better on {pv['better']}, "
                   f"worse on {pv['worse']}, the same on {pv['same']} queries")
        out.append(f"  peer vector returns adbrag vector's top {st['quality_top_k']} chunks in its order: "
                   f"{s['peer_vector_identical_to_adbrag_vector']} queries")
        li = s["lookup_identical"]
        out.append(f"  adbrag with looked-up query vectors ranks as with its own model: vector "
                   f"{li['vector']}, hybrid {li['hybrid']} queries (top {st['quality_top_k']} chunk ids)")
    c = report["checks"]
    out.append(f"\nquery vectors: min cosine to adbrag's own query embedding "
               f"{c['min_query_cosine']:.6f} (need >= {MIN_QUERY_COSINE}); max |similarity - "
               f"own cosine| at adbrag's top hit {c['max_top_hit_similarity_diff']:.2e}")
    out.append(f"peer: {report['peer']['package']} {report['peer']['version']}; report: "
               f"{report['path']}")
    print("\n".join(out))


async def main_async(args: argparse.Namespace) -> None:
    pairs = list(zip(args.pairs[0::2], args.pairs[1::2]))
    db = psycopg.connect(args.database_url, autocommit=True)
    sets = []
    for collection, labels in pairs:
        row = collection_row(db, collection)
        labelled = metrics.read_jsonl(labels)
        for x in labelled:
            x["relevant"] = [metrics.source_uri(r) for r in x["relevant"]]
        sets.append({"collection": collection, "labels": labels, "labelled": labelled,
                     "collection_id": row["id"], "chunks": row["chunks"],
                     "documents": row["documents"]})
    for s in sets:
        s["rows"] = read_chunks(db, s["collection_id"])
    queries = sorted({x["query"].strip() for s in sets for x in s["labelled"]})

    # 1. Query vectors from the local model, and the checks that they are what adbrag embeds.
    scratch = f"peers-queries-{os.getpid()}"
    key_out = run_adbrag(args, "keys", "create", "--tenant", TENANT, "--role", "admin",
                         "--name", "peers")
    key = key_out.stdout.strip()
    key_prefix = key_out.stderr.split("created key ", 1)[-1].split()[0]
    checks: dict = {}
    results = []
    try:
        vectors = query_vectors(args, db, queries, scratch)
        local_url, local_child = start_adbrag(args, "adbrag-local", adbrag_env(args))
        local = Adbrag(local_url, key)
        lookup = engine = admin = None
        try:
            # Each precomputed vector against adbrag's own embedding of the same query: the
            # query's own chunk in the scratch collection, found by a vector search.
            cosines = []
            for q in queries:
                hits = (await local.search(scratch, q, 3, "vector"))["hits"]
                own = [h["similarity"] for h in hits if h["text"] == q]
                cosines.append(own[0] if own else -1.0)
            checks["min_query_cosine"] = min(cosines)
            await local.delete_collection(scratch)
            if checks["min_query_cosine"] < MIN_QUERY_COSINE:
                raise Refusal(
                    f"a precomputed query vector has cosine {checks['min_query_cosine']} with "
                    f"adbrag's own embedding of the same query (< {MIN_QUERY_COSINE})")
            # And the similarity adbrag reports for its top hit against our own cosine.
            diffs = []
            for s in sets:
                by_id = {c["id"]: c["embedding"] for c in s["rows"]}
                for x in s["labelled"]:
                    q = x["query"].strip()
                    r = await local.search(s["collection"], q, 1, "vector")
                    checks["local_embedder"] = r["embedder"]
                    if r["hits"]:
                        hit = r["hits"][0]
                        diffs.append(abs(hit["similarity"] - cosine(vectors[q], by_id[hit["chunk_id"]])))
            checks["max_top_hit_similarity_diff"] = max(diffs) if diffs else 0.0
            say(f"query vectors check out: min cosine {checks['min_query_cosine']:.6f}")

            # The lookup server, adbrag pointed at it, and the peer loaded from adbrag's rows.
            lookup_url, lookup_child = start_lookup(args, vectors)
            url, server_child = start_adbrag(args, "adbrag-lookup", adbrag_env(
                args, ADBRAG_EMBEDDING_BASE_URL=lookup_url, ADBRAG_EMBEDDING_MODEL=LOCAL_MODEL,
                ADBRAG_EMBEDDING_DIMENSIONS=str(DIMENSIONS),
            ))
            lookup = Adbrag(url, key)
            probe = await lookup.search(sets[0]["collection"], queries[0], 1, "hybrid")
            checks["lookup_embedder"] = probe["embedder"]
            ensure_database(db, args.peer_database)
            admin = psycopg.connect(peer_url(args, "postgresql"), autocommit=True)
            engine = PGEngine.from_connection_string(
                peer_url(args, "postgresql+asyncpg"), pool_size=ADBRAG_POOL, max_overflow=0,
            )
            embeddings = LookupEmbeddings(lookup_url)
            peers = {}
            for s in sets:
                peer, info = await load_peer(args, engine, admin, s["collection"], s["rows"],
                                             embeddings)
                peers[s["collection"]] = peer
                say(f"{s['collection']}: quality ({len(s['labelled'])} queries)")
                result = {
                    "collection": s["collection"], "labels": s["labels"],
                    "queries": len(s["labelled"]), "chunks": s["chunks"],
                    "documents": s["documents"], "peer_table": info,
                }
                result.update(await quality(args, local, lookup, peer, s))
                results.append(result)
            await local.close()
            local = None
            CHILDREN.remove(local_child)
            local_child.stop()
            cpu = CpuMeter({"adbrag serve": server_child.proc.pid,
                            "embeddings lookup": lookup_child.proc.pid})
            for s, result in zip(sets, results):
                result["latency"] = await latency(args, lookup, peers[s["collection"]], s, cpu)
        finally:
            if local:
                await local.close()
            if lookup:
                await lookup.close()
            if engine:
                await engine.close()
            if admin:
                admin.close()
    finally:
        stop_children()
        try:
            run_adbrag(args, "keys", "revoke", key_prefix)
        except Refusal as err:
            say(f"could not revoke the run's API key {key_prefix}: {err}")
        if db.execute("SELECT 1 FROM collection WHERE tenant = %s AND name = %s",
                      (TENANT, scratch)).fetchone():
            say(f"scratch collection '{scratch}' is left over: delete it with "
                f"DELETE /v1/collections/{scratch}")
        db.close()

    now = datetime.datetime.now(datetime.timezone.utc)
    path = args.out_dir / f"report-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    report = {
        "generated_at": now.isoformat(),
        "path": os.path.relpath(path),
        "adbrag": {
            "binary": args.binary, "git": git_state(),
            "api": "POST /v1/collections/{name}/search over HTTP/1.1 keep-alive (httpx)",
            "caller_settings": {k: os.environ[k] for k in sorted(PASSED)},
            "settings": "the binary's defaults, except caller_settings; RUST_LOG=warn",
            "candidates": ADBRAG_CANDIDATES, "hnsw_ef_search": ADBRAG_EF_SEARCH,
            "db_pool": ADBRAG_POOL,
        },
        "peer": {
            "package": "langchain-postgres", "version": langchain_postgres.__version__,
            "api": "PGVectorStore.asimilarity_search, in-process (PGEngine's background loop)",
            "hybrid_search_config": {
                "tsv_lang": peer_config("t").tsv_lang,
                "keyword_query": "plainto_tsquery(tsv_lang, query) @@ content_tsv, ranked by ts_rank_cd",
                "fusion_function": weighted_sum_ranking.__name__,
                "fusion_function_parameters": "defaults (weights 0.5 / 0.5, min-max normalised)",
                "primary_top_k": ADBRAG_CANDIDATES, "secondary_top_k": ADBRAG_CANDIDATES,
                "shipped_primary_top_k": HybridSearchConfig().primary_top_k,
                "shipped_secondary_top_k": HybridSearchConfig().secondary_top_k,
            },
            "vector_index": f"HNSWIndex() (m=16, ef_construction=64), HNSWQueryOptions(ef_search={ADBRAG_EF_SEARCH})",
            "keyword_index": "apply_hybrid_search_index(): GIN on content_tsv",
            "engine": f"PGEngine.from_connection_string(asyncpg, pool_size={ADBRAG_POOL}, max_overflow=0)",
            "per_call_config_copy": "yes (langchain-postgres #337)",
        },
        "settings": {"quality_top_k": args.quality_top_k, "latency_top_k": args.latency_top_k,
                     "concurrency": args.concurrency, "passes": args.passes, "runs": args.runs,
                     "percentiles": "nearest rank"},
        "checks": checks,
        "sets": results,
    }
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (args.out_dir / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print_report(report)


def peer_url(args: argparse.Namespace, scheme: str) -> str:
    u = urllib.parse.urlsplit(args.database_url)
    return urllib.parse.urlunsplit((scheme, u.netloc, "/" + args.peer_database, u.query, ""))


def ensure_database(db: psycopg.Connection, name: str) -> None:
    if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        say(f"creating database {name} for the peer")
        db.execute(f'CREATE DATABASE "{name}"')


def git_state() -> dict:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], capture_output=True, text=True, cwd=HERE)
        return r.stdout.strip()
    return {"commit": git("rev-parse", "HEAD"),
            "src_modified": bool(git("status", "--porcelain", "--", "../../src"))}


RELEASE_HINT = "target/release/adbrag"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", metavar="COLLECTION LABELS.jsonl")
    p.add_argument("--binary", default=RELEASE_HINT)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--peer-database", default="adbrag_peer")
    p.add_argument("--models-dir", default=os.environ.get("ADBRAG_MODELS_DIR", "models"))
    p.add_argument("--out-dir", default="target/peers", type=Path)
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--min-calls", type=int, default=1000,
                   help="more passes for a small set, so that each run makes at least this many calls")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--quality-top-k", type=int, default=50)
    p.add_argument("--latency-top-k", type=int, default=10)
    args = p.parse_args()
    try:
        if len(args.pairs) % 2:
            raise Refusal("give COLLECTION LABELS.jsonl pairs")
        if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
            raise Refusal(f"the adbrag binary {args.binary} is missing: build it with "
                          "`cargo build --release`")
        if not args.database_url:
            raise Refusal("DATABASE_URL is not set: `scripts/pg.sh` starts the local database")
        if not (Path(args.models_dir) / LOCAL_MODEL / "model.safetensors").is_file():
            raise Refusal(f"the local model is not in {args.models_dir}/{LOCAL_MODEL}: run "
                          "scripts/models.sh or set ADBRAG_MODELS_DIR")
        for labels in args.pairs[1::2]:
            if not os.path.isfile(labels):
                raise Refusal(f"labelled set {labels} does not exist")
        args.binary = os.path.abspath(args.binary)
        args.models_dir = os.path.abspath(args.models_dir)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        asyncio.run(main_async(args))
    except Refusal as err:
        stop_children()
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except psycopg.errors.UndefinedTable as err:
        stop_children()
        print(f"error: adbrag's schema is not in {args.database_url.rsplit('/', 1)[-1]} ({err}): "
              "run `target/release/adbrag migrate`, then ingest the collection", file=sys.stderr)
        sys.exit(1)
    except psycopg.OperationalError as err:
        stop_children()
        print(f"error: cannot reach the database: {str(err).strip()}: start it with scripts/pg.sh",
              file=sys.stderr)
        sys.exit(1)
    finally:
        stop_children()


if __name__ == "__main__":
    main()
