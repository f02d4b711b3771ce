# docshare: multi-stage image, Debian 13 (trixie) by default, Debian 12 with
# --build-arg DEBIAN_RELEASE=bookworm. Needs BuildKit (DOCKER_BUILDKIT=1 with Debian's
# docker.io 20.10, or any buildx): the build uses cache mounts.
#   DOCKER_BUILDKIT=1 docker build -t docshare:0.1.0 .            # the runtime image
#   DOCKER_BUILDKIT=1 docker build --target test .                # unit + integration tests
# There is no `# syntax=` line on purpose: BuildKit then uses the frontend built into
# the engine instead of pulling one from Docker Hub, so an air-gapped farm can build it.
# Air-gapped: point the bases at the farm's registry and apt at its mirror:
#   --build-arg BASE_REGISTRY=registry.example.com/mirror/ --build-arg APT_MIRROR=http://…
# (scripts/image makes debian:trixie and debian:trixie-slim by debootstrap.)

ARG DEBIAN_RELEASE=trixie
ARG BASE_REGISTRY=""
ARG BUILD_BASE=${BASE_REGISTRY}debian:${DEBIAN_RELEASE}
ARG RUNTIME_BASE=${BASE_REGISTRY}debian:${DEBIAN_RELEASE}-slim

# --- the package lists: scripts/dev's, for this release ----------------------------
# Only the lists reach the next stages, so an edit to scripts/dev that leaves them
# as they are keeps the package layers cached (BuildKit compares what is copied).
FROM ${BUILD_BASE} AS packages
WORKDIR /src
COPY scripts/dev scripts/dev
# The test stage needs neither the browser (tests/web is not run here) nor clang.
RUN scripts/dev packages build > /build-packages \
 && scripts/dev packages test \
    | grep -vxE 'chromium|clang|clang-format|libclang-rt-[0-9]+-dev|unzip' > /test-packages

# --- build dependencies, before any source -----------------------------------------
FROM ${BUILD_BASE} AS build-deps
ARG APT_MIRROR=""
# Keep downloaded .debs for the cache mount (Docker's bases delete them).
RUN rm -f /etc/apt/apt.conf.d/docker-clean \
 && if [ -n "$APT_MIRROR" ]; then \
      sed -i "s|http://deb.debian.org/debian|${APT_MIRROR}|g" /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true; \
    fi
COPY --from=packages /build-packages /usr/share/docshare/build-packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /usr/share/docshare/build-packages \
      apt-get install -y -qq --no-install-recommends >/dev/null
WORKDIR /src

# --- build: the three shipped binaries only, stripped ------------------------------
FROM build-deps AS build
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY service service
COPY web web
COPY tests tests
COPY testdata testdata
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null \
 && cmake --build build -j2 --target docshare-server docshare-render-worker docshare-cli
# Stripped binaries in /out/bin, their debug info apart in /out/debug (see the
# `debug` stage); the runtime packages derived from what they link (ldd, then one
# dpkg -S over each library's names with and without /usr: merged /usr or not).
RUN mkdir -p /out/bin /out/debug \
 && for b in docshare-server docshare-render-worker docshare-cli; do \
      objcopy --only-keep-debug "build/$b" "/out/debug/$b.debug" \
      && objcopy --strip-all --add-gnu-debuglink="/out/debug/$b.debug" "build/$b" "/out/bin/$b"; \
    done \
 && ldd /out/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u \
    | while read -r lib; do \
        real="$(readlink -f "$lib")"; \
        printf '%s\n' "$lib" "$real" "/usr${lib#/usr}" "${lib#/usr}" "/usr${real#/usr}" \
          "${real#/usr}"; \
      done | sort -u > /tmp/lib-paths \
 && { xargs -a /tmp/lib-paths dpkg -S 2>/dev/null || true; } \
    | cut -d: -f1 | sort -u > /out/runtime-packages \
 && echo libmagic-mgc >> /out/runtime-packages \
 && cat /out/runtime-packages

# --- test: the unit and integration labels on this release ------------------------
# Every label but blackbox, web (they need Node or the browser) and fuzz; the Redis
# TLS tests must run here (hiredis 1.2), not skip as on Debian 12. The stage's image
# also holds ref-libvips and the server for scripts/bench --image.
FROM build-deps AS test
COPY --from=packages /test-packages /usr/share/docshare/test-packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /usr/share/docshare/test-packages \
      apt-get install -y -qq --no-install-recommends >/dev/null
COPY --from=build /src /src
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1
ARG DOCSHARE_TEST_LABELS=""
ARG DOCSHARE_TEST_EXCLUDE="blackbox|web|fuzz"
# Configured again: the build stage did not have the test packages (curl, redis).
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build >/dev/null \
 && cmake --build build -j2 --target docshare_all_tests ref-libvips -- -k 0 \
 && { ctest --test-dir build --output-on-failure -j2 -LE "$DOCSHARE_TEST_EXCLUDE" \
        ${DOCSHARE_TEST_LABELS:+-L "$DOCSHARE_TEST_LABELS"} > /tmp/ctest.log 2>&1; \
      rc=$?; cat /tmp/ctest.log; [ "$rc" -eq 0 ]; } \
 && tls=$(grep -cE 'RedisTlsTest\.[A-Za-z]+ \.+ +Passed' /tmp/ctest.log) \
 && if [ "$tls" -lt 2 ] || grep -E 'RedisTlsTest.*Skipped' /tmp/ctest.log; then \
      echo "the Redis TLS tests did not run and pass (passed: $tls)" >&2; exit 1; \
    fi \
 && echo "RedisTlsTest: $tls passed"

# --- debug: the binaries' debug info (docker build --target debug -o DIR .) --------
FROM scratch AS debug
COPY --from=build /out/debug /

# --- runtime ------------------------------------------------------------------------
FROM ${RUNTIME_BASE} AS runtime
ARG APT_MIRROR=""
COPY --from=build /out/runtime-packages /usr/share/docshare/runtime-packages
RUN if [ -n "$APT_MIRROR" ]; then \
      sed -i "s|http://deb.debian.org/debian|${APT_MIRROR}|g" /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true; \
    fi \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /usr/share/docshare/runtime-packages \
      apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 docshare \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin docshare \
 && if dpkg-query -W -f '${Package}\n' | grep -E -- '-dev$|^(gcc|g\+\+|cpp|clang)(-[0-9]+)?$'; then \
      echo "a compiler or -dev package in the runtime image" >&2; exit 1; \
    fi

# docshare-server runs docshare-render-worker from its own directory.
COPY --from=build /out/bin/ /usr/local/bin/

# Fail the image build, not the first pod, when a library is missing.
RUN ! ldd /usr/local/bin/docshare-server /usr/local/bin/docshare-render-worker \
     /usr/local/bin/docshare-cli | grep 'not found'

ARG DEBIAN_RELEASE
ARG RUNTIME_BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE="https://github.com/docshare/docshare"
LABEL org.opencontainers.image.title="docshare" \
      org.opencontainers.image.description="gRPC service sharing JPEG, PNG and GIF documents into live co-browse sessions" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${RUNTIME_BASE}"

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
