# Citadel in a container: built in a full Rust image, run from a minimal one as a non-root user
# with a read-only root file system. The home (keys, database, artifacts) is the only writable
# place: mount a volume at /var/lib/citadel.
#
#   docker build -t citadel .
#   docker run --rm --read-only -v citadel-home:/var/lib/citadel citadel init
#   docker run --rm --read-only -v citadel-home:/var/lib/citadel citadel doctor
#   docker run --rm --read-only -v citadel-home:/var/lib/citadel citadel tls init
#   docker run -d --read-only -v citadel-home:/var/lib/citadel -p 8443:8443 citadel \
#       serve --listen 0.0.0.0:8443

FROM rust:1-bookworm AS build
# OpenBLAS is linked statically into the binary (the engine's matmuls): build stage only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas-pthread-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p citadel \
    && install -D -m 0755 target/release/citadel /out/citadel

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 citadel \
    && useradd --system --uid 10001 --gid citadel --home-dir /var/lib/citadel --shell /usr/sbin/nologin citadel \
    && install -d -o citadel -g citadel -m 0700 /var/lib/citadel
COPY --from=build /out/citadel /usr/local/bin/citadel
USER 10001:10001
ENV CITADEL_HOME=/var/lib/citadel
VOLUME ["/var/lib/citadel"]
EXPOSE 8443
# The gateway's /healthz over TLS, trusting the home's CA (HOME/tls/ca.crt) when there is one.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["citadel", "health"]
ENTRYPOINT ["citadel"]
CMD ["--help"]
