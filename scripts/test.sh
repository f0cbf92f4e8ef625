#!/usr/bin/env bash
# Runs every marketrail test, installing what the tests need on a fresh machine:
#   - versitygw (the real S3-compatible server the integration tests talk to), built with
#     `go install` through the Go module proxy and cached between runs;
#   - goaws (the real SQS-compatible server pkg/queue's tests talk to), built through the Go
#     module proxy by scripts/goaws.sh and cached the same way (see there for why it is built
#     from a few lines of main instead of with `go install` of its own command);
#   - a C toolchain for DuckDB (duckdb-go, a test-only cgo dependency), from Debian if absent.
# It starts versitygw on 127.0.0.1 with a temporary folder and goaws on 127.0.0.1, runs gofmt,
# go vet, the tests (with -race), short fuzz runs of every parser, and one iteration of every
# benchmark, then stops the servers.
#
# Usage: scripts/test.sh            everything
#        FUZZTIME=2m scripts/test.sh    longer fuzz runs (default 30s per target, as issue 6 asks of CI)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSITYGW_VERSION=v1.8.0
GOAWS_VERSION=v0.5.4 # scripts/goaws.sh builds it
FUZZTIME=${FUZZTIME:-30s}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/marketrail
export GOFLAGS=${GOFLAGS:--buildvcs=false}

START=$SECONDS
STAGE_START=$SECONDS
say() { printf '==> %s\n' "$*" >&2; }
# stage names a step and says how long the one before it took, so the suite's time can be
# seen where it goes.
stage() {
	if [ -n "${STAGE:-}" ]; then printf '==> %s took %ds\n' "$STAGE" $((SECONDS - STAGE_START)) >&2; fi
	STAGE=$1 STAGE_START=$SECONDS
	say "$1"
}

# --- tools -----------------------------------------------------------------------------------
command -v go >/dev/null || { echo "test.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
if ! command -v gcc >/dev/null || ! command -v g++ >/dev/null; then
	say "installing a C/C++ toolchain for DuckDB (cgo)"
	apt-get update -qq && apt-get install -y -qq gcc g++ >/dev/null
fi
if ! command -v curl >/dev/null; then
	apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi
VGW=$CACHE/bin/versitygw-$VERSITYGW_VERSION
if [ ! -x "$VGW" ]; then
	say "installing versitygw $VERSITYGW_VERSION (go install; about a minute the first time)"
	mkdir -p "$CACHE/bin"
	GOBIN=$CACHE/tmpbin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
	mv "$CACHE/tmpbin/versitygw" "$VGW"
fi
# goaws: built from a few lines of main by scripts/goaws.sh (see there why), cached the same way.
GOAWS=$(scripts/goaws.sh)

# --- the S3 server ---------------------------------------------------------------------------
WORK=$(mktemp -d)
VGW_PID=""
GOAWS_PID=""
cleanup() {
	if [ -n "$VGW_PID" ]; then kill "$VGW_PID" 2>/dev/null || true; wait "$VGW_PID" 2>/dev/null || true; fi
	if [ -n "$GOAWS_PID" ]; then kill "$GOAWS_PID" 2>/dev/null || true; wait "$GOAWS_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/s3"
export MARKETRAIL_TEST_S3_ACCESS_KEY=marketrailtest
export MARKETRAIL_TEST_S3_SECRET_KEY=marketrailtestsecret
for attempt in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 20000))
	"$VGW" --access "$MARKETRAIL_TEST_S3_ACCESS_KEY" --secret "$MARKETRAIL_TEST_S3_SECRET_KEY" \
		--port "127.0.0.1:$PORT" posix "$WORK/s3" >"$WORK/versitygw.log" 2>&1 &
	VGW_PID=$!
	# versitygw answers 403 on / once it is ready.
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)
		[ "$code" = 403 ] && break
		kill -0 "$VGW_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ "${code:-}" = 403 ] && break
	kill "$VGW_PID" 2>/dev/null || true; wait "$VGW_PID" 2>/dev/null || true; VGW_PID=""
done
if [ -z "$VGW_PID" ]; then
	echo "test.sh: versitygw did not start:" >&2; cat "$WORK/versitygw.log" >&2; exit 1
fi
export MARKETRAIL_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
say "versitygw $VERSITYGW_VERSION on $MARKETRAIL_TEST_S3_ENDPOINT (pid $VGW_PID)"

# --- the SQS server --------------------------------------------------------------------------
# goaws reads the environment named on its command line (Local) from a YAML file. Host and
# Port make the queue URLs it hands out (http://Host:Port/AccountId/NAME); with no Region the
# URLs carry no region prefix, so they name 127.0.0.1 itself. pkg/queue's tests create their
# own queues.
for attempt in 1 2 3 4 5; do
	SQS_PORT=$((20000 + RANDOM % 20000))
	[ "$SQS_PORT" = "$PORT" ] && continue
	cat >"$WORK/goaws.yaml" <<EOF
Local:
  Host: 127.0.0.1
  Port: "$SQS_PORT"
  AccountId: "100010001000"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
EOF
	"$GOAWS" -config "$WORK/goaws.yaml" -host 127.0.0.1 Local >"$WORK/goaws.log" 2>&1 &
	GOAWS_PID=$!
	# goaws answers 200 on /health once it is ready.
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SQS_PORT/health" || true)
		[ "$code" = 200 ] && break
		kill -0 "$GOAWS_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ "${code:-}" = 200 ] && break
	kill "$GOAWS_PID" 2>/dev/null || true; wait "$GOAWS_PID" 2>/dev/null || true; GOAWS_PID=""
done
if [ -z "$GOAWS_PID" ]; then
	echo "test.sh: goaws did not start:" >&2; cat "$WORK/goaws.log" >&2; exit 1
fi
export MARKETRAIL_TEST_SQS_ENDPOINT=http://127.0.0.1:$SQS_PORT
say "goaws $GOAWS_VERSION on $MARKETRAIL_TEST_SQS_ENDPOINT (pid $GOAWS_PID)"

# --- checks ----------------------------------------------------------------------------------
stage "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi

stage "go vet"
go vet ./...

stage "go test -race"
go test -race -count=1 ./...

stage "fuzz ($FUZZTIME per target)"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		say "  $pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$WORK/fuzz.log" 2>&1 || {
			cat "$WORK/fuzz.log" >&2; exit 1; }
	done
done

stage "benchmarks (one iteration each; timings are not checked)"
go test -run='^$' -bench=. -benchtime=1x ./... >"$WORK/bench.log" 2>&1 || { cat "$WORK/bench.log" >&2; exit 1; }

stage "done"
say "all tests passed in $((SECONDS - START))s"
