package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what this machine cannot build (it has no Docker engine): the
// Dockerfile pins its base images by digest, downloads no module it does not build, and its
// build context (.dockerignore) holds what the build reads and not the test data.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	from := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(from) != 2 {
		t.Fatalf("%d FROM lines, want the build and the runtime stage", len(from))
	}
	for _, f := range from {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(f[1]) {
			t.Errorf("base image %s is not pinned by digest", f[1])
		}
	}
	if regexp.MustCompile(`(?m)^RUN.*go mod download`).MatchString(df) {
		t.Error("the Dockerfile runs go mod download, which fetches the test-only modules too")
	}
	// What the binary imports must not include the test-only modules.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range strings.Fields(string(out)) {
		if strings.Contains(m, "duckdb") {
			t.Errorf("marketrail's binary imports %s, a test-only module", m)
		}
	}
	// The context: every COPY source is let in, test data is not.
	ign, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"!go.mod", "!go.sum", "!cmd/", "!pkg/", "!internal/", "**/testdata/"} {
		if !strings.Contains(string(ign), "\n"+want+"\n") {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	for _, c := range regexp.MustCompile(`(?m)^COPY\s+(?:--\S+\s+)*(\S+)`).FindAllStringSubmatch(df, -1) {
		src := strings.TrimSuffix(strings.TrimPrefix(c[1], "./"), "/")
		if strings.HasPrefix(c[0], "COPY --from") {
			continue
		}
		if !strings.Contains(string(ign), "!"+src) {
			t.Errorf("COPY %s: .dockerignore leaves it out of the context", c[1])
		}
	}
}
