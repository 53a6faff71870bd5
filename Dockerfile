# syntax=docker/dockerfile:1
# weir container image: `make image` (CONTAINER_ENGINE=podman works too).
# Static binaries on distroless/static, running as a non-root user by default.
# The kernel features need capabilities, not root: run with
#   --cap-drop ALL --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON
# (and, because capabilities only reach UID 0 without ambient support,
# --user 0). The Kubernetes DaemonSet in deploy/kubernetes does exactly that.
# Without them weir still serves, with L7 limits only.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/weir ./cmd/weir && \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/weirctl ./cmd/weirctl

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="weir" \
      org.opencontainers.image.description="eBPF-accelerated node-level AI gateway" \
      org.opencontainers.image.source="https://github.com/weir-gateway/weir" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/weir /out/weirctl /usr/local/bin/
USER 65532:65532
# 8080: client listener; 9901: admin (/metrics /healthz /readyz /config).
EXPOSE 8080 9901
ENTRYPOINT ["/usr/local/bin/weir"]
