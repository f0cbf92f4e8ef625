# marketrail: a static binary on a minimal, non-root base that still carries CA certificates.
#   docker build --build-arg VERSION=v0.1.0 -t marketrail .
#   docker run --rm -e AWS_REGION marketrail run --source s3://trail --dest s3://lake/marketplace
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY pkg ./pkg
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/marketrail ./cmd/marketrail

# distroless/static: no shell, no package manager; CA certificates and a nonroot user included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marketrail /marketrail
USER nonroot:nonroot
ENTRYPOINT ["/marketrail"]
