package iceberg

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	_ "github.com/apache/iceberg-go/catalog/rest" // registers the "rest" catalog type
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/aws/aws-sdk-go-v2/config"
	_ "modernc.org/sqlite"

	"github.com/marketrail/marketrail/pkg/iceberg/defaults" // the SQL catalog's SQLite driver, pure Go
)

// DefaultNamespace is the namespace (Glue: database) of the tables unless --database says.
const DefaultNamespace = defaults.Namespace

// CatalogSpec describes --catalog's forms, for messages.
const CatalogSpec = defaults.CatalogSpec

// OpenCatalog opens the catalog spec names (CatalogSpec):
//
//   - sqlite:FILE — iceberg-go's SQL catalog in the SQLite file FILE (created if absent;
//     pure Go, WAL, a busy timeout of 10 s): tables on one host, without AWS;
//   - rest+https://HOST/PATH — an Iceberg REST catalog; the URL's query parameters are
//     catalog properties (warehouse, credential, rest.signing-name …). On an
//     *.amazonaws.com host (Glue's Iceberg endpoint glue.REGION.amazonaws.com/iceberg,
//     S3 Tables' s3tables.REGION.amazonaws.com/iceberg) requests are signed with SigV4
//     by the standard AWS configuration. rest+http:// is accepted for 127.0.0.1 and
//     localhost only;
//   - glue — the AWS Glue Data Catalog of the account and region of the standard AWS
//     configuration (AWS_REGION, profiles, roles).
//
// warehouse is the URL of the destination, where new tables are placed.
func OpenCatalog(ctx context.Context, spec, warehouse string) (catalog.Catalog, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		file := strings.TrimPrefix(spec, "sqlite:")
		if file == "" {
			return nil, fmt.Errorf("--catalog %s: name the SQLite file, as in sqlite:marketrail-catalog.db", spec)
		}
		abs, err := filepath.Abs(file)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(abs), 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("--catalog %s: %w", spec, err)
		}
		dsn := "file:" + abs + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		cat, err := catalog.Load(ctx, "marketrail", ice.Properties{
			"type": "sql", "uri": dsn,
			sqlcat.DriverKey: "sqlite", sqlcat.DialectKey: string(sqlcat.SQLite),
			"warehouse": warehouse,
		})
		if err != nil {
			return nil, fmt.Errorf("open the SQLite catalog %s: %w", abs, err)
		}
		return cat, nil
	case strings.HasPrefix(spec, "rest+"):
		u, err := url.Parse(strings.TrimPrefix(spec, "rest+"))
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("--catalog %s: a REST catalog is rest+https://HOST/PATH", spec)
		}
		if u.Scheme == "http" && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("--catalog %s: a REST catalog off this machine is reached over https", spec)
		}
		props := ice.Properties{}
		for k, v := range u.Query() {
			props[k] = v[len(v)-1]
		}
		u.RawQuery = ""
		if strings.HasSuffix(u.Hostname(), ".amazonaws.com") {
			// glue.us-east-1.amazonaws.com → service glue, region us-east-1.
			parts := strings.Split(u.Hostname(), ".")
			if len(parts) >= 4 {
				setDefault(props, "rest.sigv4-enabled", "true")
				setDefault(props, "rest.signing-name", parts[0])
				setDefault(props, "rest.signing-region", parts[1])
			}
		}
		props["type"], props["uri"] = "rest", u.String()
		cat, err := catalog.Load(ctx, "marketrail", props)
		if err != nil {
			return nil, fmt.Errorf("open the REST catalog %s: %w", u.Redacted(), err)
		}
		return cat, nil
	case spec == "glue":
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("open the Glue catalog: %w", err)
		}
		if cfg.Region == "" {
			return nil, fmt.Errorf("open the Glue catalog: no AWS region: set AWS_REGION or a profile's region")
		}
		cat, err := glue.NewCatalog(glue.WithAwsConfig(cfg))
		if err != nil {
			return nil, fmt.Errorf("open the Glue catalog: %w", err)
		}
		return cat, nil
	}
	return nil, fmt.Errorf("--catalog %q: not a catalog; use %s", spec, CatalogSpec)
}

func setDefault(p ice.Properties, k, v string) {
	if _, ok := p[k]; !ok {
		p[k] = v
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
