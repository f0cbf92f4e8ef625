package athena_test

import (
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/athena"
	"github.com/marketrail/marketrail/pkg/marketplace"
)

// TestIcebergGuide: for the Glue Data Catalog (directly or through its Iceberg REST
// endpoint) the guide queries, compacts and vacuums every table and creates none (Athena's
// CREATE TABLE would make a new, empty table); for any other catalog it says Athena cannot
// read it, and names the way to Glue.
func TestIcebergGuide(t *testing.T) {
	for _, c := range []struct {
		catalog string
		glue    bool
	}{
		{"glue", true},
		{"rest+https://glue.eu-west-1.amazonaws.com/iceberg?warehouse=123456789012", true},
		{"sqlite:/var/lib/marketrail/catalog.db", false},
		{"rest+https://s3tables.us-east-1.amazonaws.com/iceberg", false},
		{"rest+https://catalog.example.com/api", false},
	} {
		g := athena.IcebergGuide(c.catalog, "mkt")
		if strings.Contains(strings.ToUpper(g), "CREATE ") {
			t.Errorf("%s: the guide creates a table:\n%s", c.catalog, g)
		}
		for _, tb := range marketplace.Tables() {
			for _, stmt := range []string{"SELECT count(*) FROM \"mkt\".\"" + tb.Name + "\";", "OPTIMIZE \"mkt\".\"" + tb.Name + "\" REWRITE DATA USING BIN_PACK", "VACUUM \"mkt\".\"" + tb.Name + "\";"} {
				if strings.Contains(g, stmt) != c.glue {
					t.Errorf("%s: has %q: %v, want %v\n%s", c.catalog, stmt, !c.glue, c.glue, g)
				}
			}
		}
		if !c.glue && (!strings.Contains(g, "does not see") || !strings.Contains(g, "--catalog glue") || !strings.Contains(g, c.catalog)) {
			t.Errorf("%s: the guide does not say Athena cannot read the catalog, and the way to Glue:\n%s", c.catalog, g)
		}
	}
}
