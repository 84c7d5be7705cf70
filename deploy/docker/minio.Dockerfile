# MinIO server and client (mc), built from source at pinned release tags, for the single-host
# (compose) and development (k8s dev overlay) deployments. Why built here (deploy/README.md,
# "Object store image"): the MinIO community edition is source-only since October 2025 and its
# images are no longer published, and RELEASE.2025-10-15T17-29-55Z is the release that fixes
# CVE-2025-62506. Production uses the platform's S3 service, not this image.
#
#   docker build -f deploy/docker/minio.Dockerfile -t jdl-minio:RELEASE.2025-10-15T17-29-55Z .
ARG GO_IMAGE=golang:1.24-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG MINIO_RELEASE=RELEASE.2025-10-15T17-29-55Z
ARG MC_RELEASE=RELEASE.2025-08-13T08-35-41Z

FROM ${GO_IMAGE} AS build
ARG MINIO_RELEASE
ARG MC_RELEASE
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN git clone --depth 1 --branch "${MINIO_RELEASE}" https://github.com/minio/minio.git /src/minio \
 && cd /src/minio && go build -ldflags "-s -w" -o /out/minio . \
 && git clone --depth 1 --branch "${MC_RELEASE}" https://github.com/minio/mc.git /src/mc \
 && cd /src/mc && go build -ldflags "-s -w" -o /out/mc .

FROM ${RUNTIME_IMAGE} AS runtime
ARG MINIO_RELEASE
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home minio
COPY --from=build /out/minio /out/mc /usr/local/bin/
LABEL org.opencontainers.image.version="${MINIO_RELEASE}"
USER 1000
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
