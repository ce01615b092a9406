# syntax=docker/dockerfile:1
#
# feathr in a minimal image: a static binary (CGO_ENABLED=0) on distroless,
# running as an unprivileged user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t feathr .
#   docker run --rm -v $PWD/features.yaml:/etc/feathr/features.yaml:ro \
#       -e REDIS_PASSWORD -p 9464:9464 feathr materialize --metrics-addr :9464
#
# The working directory is /etc/feathr, so the default -f features.yaml
# reads /etc/feathr/features.yaml: mount the feature definitions there.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/feathrgo/feathr/cmd.version=${VERSION}" \
        -o /out/feathr . \
 && /out/feathr version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/feathr /usr/local/bin/feathr
WORKDIR /etc/feathr
USER nonroot:nonroot
# --metrics-addr :9464 serves /metrics, /healthz and /readyz here.
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/feathr"]
CMD ["--help"]
