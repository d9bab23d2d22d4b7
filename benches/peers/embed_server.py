"""A lookup, not a model: serves precomputed query vectors over the OpenAI embeddings protocol
(`POST /v1/embeddings`, also `/embeddings`) on 127.0.0.1, so that `adbrag serve` (through
ADBRAG_EMBEDDING_BASE_URL) and the peer's Embeddings object get the very same vector for a query
at the same cost: one loopback HTTP round trip.

    python3 embed_server.py VECTORS.json      # {"model": "...", "vectors": {"query text": [...]}}

Prints `PORT <n>` on stdout once listening, then serves until terminated. An input it has no
vector for is answered 400, so a missing vector fails loudly instead of embedding something else.
Responses are pre-rendered: the server's work per request is a dict lookup and a write.
"""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    model = spec["model"]
    # Keyed by the stripped text: adbrag trims a query before embedding it.
    rendered = {
        text.strip(): json.dumps(vector, separators=(",", ":"))
        for text, vector in spec["vectors"].items()
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as both clients use it

        def setup(self) -> None:
            super().setup()
            # Headers and body are two writes: without this, Nagle + delayed ACK add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
                self._send(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')
                return
            try:
                body = json.loads(raw)
                inputs = body["input"]
                if isinstance(inputs, str):
                    inputs = [inputs]
                vectors = [rendered[text.strip()] for text in inputs]
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                message = json.dumps(
                    {"error": {"message": f"no precomputed vector: {err!r}"[:300],
                               "type": "invalid_request_error"}}
                )
                self._send(400, message.encode())
                return
            data = ",".join(
                f'{{"object":"embedding","index":{i},"embedding":{v}}}'
                for i, v in enumerate(vectors)
            )
            n = len(vectors)
            out = (
                f'{{"object":"list","data":[{data}],"model":{json.dumps(model)},'
                f'"usage":{{"prompt_tokens":{n},"total_tokens":{n}}}}}'
            )
            self._send(200, out.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
