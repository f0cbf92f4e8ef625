# marketrail: a static binary on a minimal, non-root base that still carries CA certificates.
#   docker build --build-arg VERSION=v0.1.0 -t marketrail .
#   docker run --rm -e AWS_REGION marketrail run --source s3://trail --dest s3://lake/marketplace
#
# Base images are pinned by digest, so a build is repeatable and a moved tag cannot change
# what ships. To bump one, resolve the tag's current digest and replace it here (and in the
# comment's date), e.g.:
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot --format '{{json .Manifest.Digest}}'
# (or `crane digest IMAGE`). Digests as published on 2026-08-26.
FROM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY cmd ./cmd
COPY pkg ./pkg
COPY internal ./internal
ARG VERSION=dev
# No `go mod download`: it would fetch every module of go.mod, the test-only DuckDB (~145 MB)
# included. `go build` fetches only the modules the binary imports (about 90 MB of zips), and
# the cache mounts (BuildKit, Docker's default builder) keep them, and the build cache,
# between builds.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/marketrail ./cmd/marketrail

# distroless/static: no shell, no package manager; CA certificates and a nonroot user included.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/marketrail /marketrail
USER nonroot:nonroot
ENTRYPOINT ["/marketrail"]
