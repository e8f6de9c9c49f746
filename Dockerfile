# teamgate: the policy sidecar, with the demo bundle baked in as the default.
#
#   docker build -t teamgate .
#   docker run --rm -p 8180:8180 teamgate serve --listen 0.0.0.0:8180
#
# Without arguments it serves /bundle on 127.0.0.1:8180, which is what a
# sidecar in a Kubernetes pod wants (the pod shares loopback); see deploy/.

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin teamgate \
 && rm -rf src
COPY src src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin teamgate \
 && strip target/release/teamgate

FROM debian:bookworm-slim
# curl for the health check; ca-certificates for TLS to a database later.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin teamgate \
 && mkdir -p /var/lib/teamgate \
 && chown teamgate /var/lib/teamgate
COPY --from=build /src/target/release/teamgate /usr/local/bin/teamgate
COPY schemas /bundle/schemas
COPY policies /bundle/policies
COPY fixtures /bundle/fixtures
COPY invariants.yaml /bundle/invariants.yaml
ENV TEAMGATE_BUNDLE=/bundle \
    TEAMGATE_DATA_STORE=/var/lib/teamgate/data.redb
USER 10001
EXPOSE 8180
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8180/readyz >/dev/null || exit 1
ENTRYPOINT ["teamgate"]
CMD ["serve"]
