# syntax=docker/dockerfile:1
# docshare: multi-stage image on Debian bookworm.
#   docker build -t docshare:dev --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --read-only --tmpfs /tmp -p 50051:50051 -p 9464:9464 docshare:dev --log-level=debug
# The build stage runs exactly what CI runs (scripts/dev build: apt packages, CMake, Ninja);
# the runtime stage holds the runtime libraries and the binaries, nothing else.

ARG DEBIAN_RELEASE=bookworm

# --- build ---------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# scripts/dev installs its own Debian packages (as root here, no sudo) and builds with
# ccache; the cache mount only speeds up rebuilds.
RUN --mount=type=cache,target=/root/.cache/ccache \
    DOCSHARE_BUILD_DIR=/src/build scripts/dev build

# --- runtime -------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Shared libraries of docshare-server and docshare-cli (their dependencies follow).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libvips42 libmagic1 libmagic-mgc libgrpc++1.51 libprotobuf32 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libhiredis0.14 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 docshare \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin docshare

# docshare-server runs docshare-render-worker from its own directory.
COPY --from=build /src/build/docshare-server /src/build/docshare-render-worker \
     /src/build/docshare-cli /usr/local/bin/

# Fail the image build, not the first pod, when a library is missing.
RUN ! ldd /usr/local/bin/docshare-server /usr/local/bin/docshare-render-worker \
     /usr/local/bin/docshare-cli | grep 'not found'

ARG DEBIAN_RELEASE
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="docshare" \
      org.opencontainers.image.description="gRPC service sharing JPEG, PNG and GIF documents into live co-browse sessions" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:${DEBIAN_RELEASE}-slim"

# Works with a read-only root filesystem: the only writes go to /tmp, which the
# runtime mounts (emptyDir in Kubernetes, --tmpfs /tmp with docker).
ENV HOME=/tmp TMPDIR=/tmp
WORKDIR /tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# gRPC, and metrics (/metrics, /healthz, /readyz).
EXPOSE 50051 9464
# SIGTERM drains: readiness fails at once, in-flight shares finish, exit 0.
STOPSIGNAL SIGTERM
# Arguments are server flags (--kebab-case); DOCSHARE_* environment variables also work.
ENTRYPOINT ["/usr/local/bin/docshare-server"]
