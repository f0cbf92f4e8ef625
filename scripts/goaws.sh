#!/usr/bin/env bash
# Builds goaws (the real SQS-compatible server the tests and cmd/perftable talk to) through
# the Go module proxy if it is not built yet, cached in ${XDG_CACHE_HOME:-$HOME/.cache}/marketrail,
# and prints the binary's path on stdout (progress goes to stderr).
#
# goaws's own command (github.com/Admiral-Piett/goaws/app/cmd) always listens on 0.0.0.0 (its
# main calls http.ListenAndServe("0.0.0.0:"+port)); no setting changes that. So the script
# builds the same server from goaws's own packages (configuration, router, the task that
# makes messages visible again) with a main that listens on 127.0.0.1 only (-host).
#
# Usage: GOAWS=$(scripts/goaws.sh)
#        "$GOAWS" -config goaws.yaml -host 127.0.0.1 Local
set -euo pipefail

GOAWS_VERSION=v0.5.4
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/marketrail
export GOFLAGS=${GOFLAGS:--buildvcs=false}

command -v go >/dev/null || { echo "goaws.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
GOAWS=$CACHE/bin/goaws-$GOAWS_VERSION
if [ ! -x "$GOAWS" ]; then
	printf '==> %s\n' "installing goaws $GOAWS_VERSION (built through the Go module proxy; seconds the first time)" >&2
	mkdir -p "$CACHE/bin" "$CACHE/tmpbin"
	src=$CACHE/src/goaws-$GOAWS_VERSION
	rm -rf "$src" && mkdir -p "$src"
	printf 'module marketrail.local/goaws\n\ngo 1.21\n\nrequire github.com/Admiral-Piett/goaws %s\n' "$GOAWS_VERSION" >"$src/go.mod"
	cat >"$src/main.go" <<'EOF'
// Command goaws runs goaws's SQS/SNS server like goaws's own command, listening on -host
// (127.0.0.1 by default) instead of always on 0.0.0.0.
package main

import (
	"flag"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	log "github.com/sirupsen/logrus"
)

func main() {
	config := flag.String("config", "", "goaws YAML configuration file")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	flag.Parse()
	env := "Local"
	if flag.NArg() > 0 {
		env = flag.Arg(0)
	}
	log.SetFormatter(&log.JSONFormatter{})
	log.SetOutput(os.Stdout)
	ports := conf.LoadYamlConfig(*config, env)
	if len(ports) != 1 {
		log.Fatal("goaws: the configuration must set exactly one Port")
	}
	go gosqs.PeriodicTasks(time.Second, make(chan bool))
	addr := *host + ":" + ports[0]
	log.Warnf("GoAws listening on: %s", addr)
	log.Fatal(http.ListenAndServe(addr, router.New()))
}
EOF
	# The build's own output goes to stderr: stdout carries the path alone.
	(cd "$src" && GOFLAGS="$GOFLAGS -mod=mod" go build -o "$CACHE/tmpbin/goaws" . >&2)
	mv "$CACHE/tmpbin/goaws" "$GOAWS"
fi
printf '%s\n' "$GOAWS"
