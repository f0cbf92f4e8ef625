package athena

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated blocks of docs/athena.md")

const docsPath = "../../docs/athena.md"

// generated returns the blocks of docs/athena.md that are generated from the Go definitions.
func generated(t *testing.T) map[string]string {
	t.Helper()
	stmts, err := DDL("marketplace", "s3://YOUR-BUCKET/marketplace")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"DDL":     "```sql\n" + strings.Join(stmts, "\n") + "```\n",
		"COLUMNS": ref,
	}
}

// TestDocsGenerated: the DDL and the column reference in docs/athena.md are exactly what the
// code generates (go test ./pkg/athena -update rewrites them).
func TestDocsGenerated(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, want := range generated(t) {
		begin := "<!-- BEGIN GENERATED " + name + " (go test ./pkg/athena -update) -->\n"
		end := "<!-- END GENERATED " + name + " -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("docs/athena.md has no generated %s block", name)
		}
		got := doc[i+len(begin) : j]
		if got == want {
			continue
		}
		if *update {
			doc = doc[:i+len(begin)] + want + doc[j:]
			continue
		}
		t.Errorf("docs/athena.md: the generated %s block is stale; run go test ./pkg/athena -update", name)
	}
	if *update {
		if err := os.WriteFile(docsPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
