# syntax=docker/dockerfile:1
# The CRM service image: `crm serve` (HTTP API, projectors, and the Kafka
# relay when KAFKA_BROKERS is set). docker-compose.yml runs it with
# PostgreSQL and Apache Kafka.

FROM rust:1.95-bookworm AS builder
# rdkafka builds its bundled librdkafka from source (C compiler, make, cmake).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary
# is copied out of the cached target folder in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build -p crm --release --locked \
    && install -D -m 0755 target/release/crm /out/crm

FROM debian:bookworm-slim
# No PostgreSQL client libraries: sqlx speaks the protocol itself, and
# librdkafka is linked in statically.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --home-dir /var/lib/crm --create-home --shell /usr/sbin/nologin crm
COPY --from=builder /out/crm /usr/local/bin/crm
USER 10001:10001
WORKDIR /var/lib/crm
# Listen on every interface inside the container (the default is loopback only).
ENV CRM_LISTEN=0.0.0.0:8080 \
    CRM_DATA_DIR=/var/lib/crm/data
EXPOSE 8080
# 200 once the database is reachable and migrated (bash's /dev/tcp: no curl in the image).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["crm"]
CMD ["serve"]
