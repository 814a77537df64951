# ptsd container image: a static musl build of the daemon on distroless (CA certificates,
# non-root user, no shell). Configuration is by environment (see docs/configuration.md); the state dir is
# optional (PTSD_STATE_DIR), so no VOLUME is declared.

FROM rust:1.95-bookworm AS build
# musl-gcc builds ring (rustls) for the static musl target. Unpinned on purpose: the
# bookworm package is the only candidate and the base image tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# One COPY per folder: the crate compiles collectors/ and outputters/ through #[path] modules,
# and Cargo.toml declares the bench target, whose file must exist for the manifest to load.
COPY src ./src
COPY collectors ./collectors
COPY outputters ./outputters
COPY benches ./benches
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
    && cp target/x86_64-unknown-linux-musl/release/ptsd /ptsd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /ptsd /usr/local/bin/ptsd
ENV STATSD_HOST=127.0.0.1
# The image's "nonroot" user, numerically: Kubernetes runAsNonRoot can only verify a numeric UID.
USER 65532:65532
# `ptsd health` reads the status file the daemon writes after every poll: no shell, no curl.
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s \
  CMD ["/usr/local/bin/ptsd", "health"]
ENTRYPOINT ["/usr/local/bin/ptsd"]
