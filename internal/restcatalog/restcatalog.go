// Package restcatalog is a small Apache Iceberg REST catalog server for tests.
//
// marketrail can commit Iceberg tables through a REST catalog
// ("rest+https://…"), using iceberg-go's REST client
// (github.com/apache/iceberg-go/catalog/rest). No real REST catalog is
// available in tests, so this package serves the part of the Iceberg REST
// Catalog OpenAPI spec that the iceberg-go v0.7.0 client uses for namespaces
// and tables, and stores everything in iceberg-go's SQL catalog on a SQLite
// file. Commits therefore go through the SQL catalog's real compare-and-swap on
// the metadata location, so concurrent writers see genuine conflicts (HTTP 409)
// rather than a mock's idea of them.
//
// Covered routes ({prefix} is optional, see WithPrefix):
//
//	GET    /v1/config
//	GET    /v1/{prefix}/namespaces                              list (parent, pageToken, pageSize)
//	POST   /v1/{prefix}/namespaces                              create
//	GET    /v1/{prefix}/namespaces/{namespace}                  load properties
//	HEAD   /v1/{prefix}/namespaces/{namespace}                  exists
//	DELETE /v1/{prefix}/namespaces/{namespace}                  drop (must be empty)
//	POST   /v1/{prefix}/namespaces/{namespace}/properties       update properties
//	GET    /v1/{prefix}/namespaces/{namespace}/tables           list
//	POST   /v1/{prefix}/namespaces/{namespace}/tables           create (also stage-create)
//	GET    /v1/{prefix}/namespaces/{namespace}/tables/{table}   load
//	HEAD   /v1/{prefix}/namespaces/{namespace}/tables/{table}   exists
//	POST   /v1/{prefix}/namespaces/{namespace}/tables/{table}   commit (requirements + updates)
//	DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}   drop (purgeRequested honoured)
//
// Not covered: views, rename, register, multi-table transactions, metrics,
// credential vending, server-side scan planning and OAuth token exchange. The
// config response advertises exactly the covered endpoints, so the iceberg-go
// client reports ErrEndpointNotSupported for the rest instead of calling them.
//
// Errors use the spec's error model {"error":{"message","type","code"}}: a
// failed requirement or lost compare-and-swap is 409 CommitFailedException
// (the client turns it into table.ErrCommitFailed), a missing table or
// namespace is 404 NoSuchTableException / NoSuchNamespaceException, a
// duplicate is 409 AlreadyExistsException, an update that cannot be applied is
// 400 BadRequestException, anything else is 500.
package restcatalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"

	// SQLite driver registered as "sqlite", used by the backing SQL catalog.
	_ "modernc.org/sqlite"
)

// Route templates, spelled exactly as the iceberg-go REST client names its
// endpoints so that the advertised list in /v1/config matches and Requests()
// keys are recognisable.
const (
	routeConfig           = "GET /v1/config"
	routeListNamespaces   = "GET /v1/{prefix}/namespaces"
	routeCreateNamespace  = "POST /v1/{prefix}/namespaces"
	routeLoadNamespace    = "GET /v1/{prefix}/namespaces/{namespace}"
	routeNamespaceExists  = "HEAD /v1/{prefix}/namespaces/{namespace}"
	routeDropNamespace    = "DELETE /v1/{prefix}/namespaces/{namespace}"
	routeUpdateNamespace  = "POST /v1/{prefix}/namespaces/{namespace}/properties"
	routeListTables       = "GET /v1/{prefix}/namespaces/{namespace}/tables"
	routeCreateTable      = "POST /v1/{prefix}/namespaces/{namespace}/tables"
	routeLoadTable        = "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"
	routeTableExists      = "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}"
	routeCommitTable      = "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}"
	routeDropTable        = "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}"
	namespaceSeparator    = "\x1f" // the spec's default, sent by clients as %1F
	maxRequestBody        = 64 << 20
	defaultCatalogName    = "marketrail_rest"
	errTypeCommitFailed   = "CommitFailedException"
	errTypeNoSuchTable    = "NoSuchTableException"
	errTypeNoSuchNS       = "NoSuchNamespaceException"
	errTypeAlreadyExists  = "AlreadyExistsException"
	errTypeNSNotEmpty     = "NamespaceNotEmptyException"
	errTypeBadRequest     = "BadRequestException"
	errTypeNotAuthorized  = "NotAuthorizedException"
	errTypeServiceFailure = "ServiceFailureException"
)

// advertisedEndpoints is what /v1/config returns under "endpoints". Listing the
// HEAD routes makes the client use them for existence checks.
func advertisedEndpoints() []string {
	return []string{
		routeListNamespaces, routeCreateNamespace, routeLoadNamespace,
		routeNamespaceExists, routeDropNamespace, routeUpdateNamespace,
		routeListTables, routeCreateTable, routeLoadTable, routeTableExists,
		routeCommitTable, routeDropTable,
	}
}

// Server is an http.Handler serving an Iceberg REST catalog backed by
// iceberg-go's SQL catalog on a SQLite file. It is safe for concurrent use;
// concurrency control for commits is the SQL catalog's compare-and-swap.
type Server struct {
	cat       *sqlcat.Catalog
	db        *sql.DB
	warehouse string

	prefix      []string // path segments between /v1 and the resource, may be empty
	token       string   // required bearer token, "" for none
	tableConfig iceberg.Properties
	catProps    iceberg.Properties
	name        string

	mu       sync.Mutex
	requests map[string]int
}

// Option configures a Server.
type Option func(*Server)

// WithPrefix makes the server advertise the "prefix" override in /v1/config
// and serve the catalog under /v1/{prefix}/…, as multi-tenant servers do. The
// client then inserts the prefix into every later request path.
func WithPrefix(prefix string) Option {
	return func(s *Server) {
		s.prefix = splitPath(strings.Trim(prefix, "/"))
	}
}

// WithBearerToken makes every request, including /v1/config, require the
// header "Authorization: Bearer token"; others get 401 NotAuthorizedException.
// The iceberg-go client sends it when given the catalog property "token".
func WithBearerToken(token string) Option {
	return func(s *Server) { s.token = token }
}

// WithTableConfig sets the "config" map returned with every loaded or created
// table. The client merges it into the table's IO properties (for example
// s3.endpoint for a fake S3).
func WithTableConfig(props iceberg.Properties) Option {
	return func(s *Server) { s.tableConfig = maps.Clone(props) }
}

// WithCatalogProperties adds properties to the backing SQL catalog, which uses
// them for its own file IO (reading and writing metadata files), for example
// s3.endpoint and credentials when the warehouse is s3://.
func WithCatalogProperties(props iceberg.Properties) Option {
	return func(s *Server) { s.catProps = maps.Clone(props) }
}

// WithCatalogName sets the catalog_name the SQL catalog stores rows under, so
// several servers can share one SQLite file without seeing each other's tables.
func WithCatalogName(name string) Option {
	return func(s *Server) { s.name = name }
}

// New opens (creating if needed) the SQLite file dbFile as an iceberg-go SQL
// catalog whose tables default to locations under warehouse (file:///… or
// s3://…) and returns a Server for it. Several Servers, possibly in different
// processes, may share dbFile; commits stay atomic across them.
func New(ctx context.Context, dbFile, warehouse string, opts ...Option) (*Server, error) {
	s := &Server{warehouse: warehouse, name: defaultCatalogName, requests: map[string]int{}}
	for _, o := range opts {
		o(s)
	}

	dsn := "file:" + dbFile + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("restcatalog: open %s: %w", dbFile, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()

		return nil, fmt.Errorf("restcatalog: open %s: %w", dbFile, err)
	}

	props := iceberg.Properties{
		"type":            "sql",
		"uri":             dsn,
		sqlcat.DriverKey:  "sqlite",
		sqlcat.DialectKey: string(sqlcat.SQLite),
		"warehouse":       warehouse,
	}
	maps.Copy(props, s.catProps)

	cat, err := sqlcat.NewCatalog(s.name, db, sqlcat.SQLite, props)
	if err != nil {
		_ = db.Close()

		return nil, fmt.Errorf("restcatalog: sql catalog on %s: %w", dbFile, err)
	}
	s.cat, s.db = cat, db

	return s, nil
}

// Close releases the SQL catalog and its database handle. Requests still in
// flight fail.
func (s *Server) Close() error {
	return errors.Join(s.cat.Close(), s.db.Close())
}

// Start serves a new Server on 127.0.0.1 (an ephemeral port, via httptest) for
// the duration of the test and returns it with its base URL
// (http://127.0.0.1:PORT), which is the client's "uri". Both are closed by
// t.Cleanup.
func Start(t testing.TB, dbFile, warehouse string, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := New(context.Background(), dbFile, warehouse, opts...)
	if err != nil {
		t.Fatalf("restcatalog.Start: %v", err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("restcatalog: close: %v", err)
		}
	})

	return s, hs.URL
}

// Requests returns how many requests each route received, keyed by route
// template such as "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}"
// (the commit). Requests rejected for a missing token count under
// "METHOD unauthorized", unknown paths under "METHOD unmatched". Tests use it
// to prove that a write really went through the REST API.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()

	return maps.Clone(s.requests)
}

func (s *Server) count(route string) {
	s.mu.Lock()
	s.requests[route]++
	s.mu.Unlock()
}

// apiError is an error with the HTTP status and spec error type to report.
type apiError struct {
	status int
	typ    string
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, typ: errTypeBadRequest, err: fmt.Errorf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		s.count(r.Method + " unauthorized")
		writeError(w, r, &apiError{status: http.StatusUnauthorized, typ: errTypeNotAuthorized,
			err: errors.New("missing or wrong bearer token")})

		return
	}

	route, ns, tbl, err := s.match(r)
	if err != nil {
		s.count(r.Method + " unmatched")
		writeError(w, r, err)

		return
	}
	s.count(route)

	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	ctx := r.Context()

	var (
		status = http.StatusOK
		body   any
	)
	switch route {
	case routeConfig:
		body = s.config()
	case routeListNamespaces:
		body, err = s.listNamespaces(ctx, r.URL.Query())
	case routeCreateNamespace:
		body, err = s.createNamespace(ctx, r)
	case routeLoadNamespace:
		body, err = s.loadNamespace(ctx, ns)
	case routeNamespaceExists:
		status, err = http.StatusNoContent, s.namespaceExists(ctx, ns)
	case routeDropNamespace:
		status, err = http.StatusNoContent, s.cat.DropNamespace(ctx, ns)
	case routeUpdateNamespace:
		body, err = s.updateNamespace(ctx, r, ns)
	case routeListTables:
		body, err = s.listTables(ctx, ns, r.URL.Query())
	case routeCreateTable:
		body, err = s.createTable(ctx, r, ns)
	case routeLoadTable:
		body, err = s.loadTable(ctx, ident(ns, tbl))
	case routeTableExists:
		status, err = http.StatusNoContent, s.tableExists(ctx, ident(ns, tbl))
	case routeCommitTable:
		body, err = s.commitTable(ctx, r, ident(ns, tbl))
	case routeDropTable:
		status, err = http.StatusNoContent, s.dropTable(ctx, ident(ns, tbl), r.URL.Query().Get("purgeRequested") == "true")
	}
	if err != nil {
		writeError(w, r, err)

		return
	}
	if body == nil {
		w.WriteHeader(status)

		return
	}
	writeJSON(w, status, body)
}

// match resolves the request to a route template and its decoded namespace
// and table name.
func (s *Server) match(r *http.Request) (route string, ns table.Identifier, tbl string, err error) {
	segs := splitPath(r.URL.EscapedPath())
	if len(segs) < 2 || segs[0] != "v1" {
		return "", nil, "", badRequest("unsupported path %s", r.URL.Path)
	}
	segs = segs[1:]
	if len(segs) == 1 && segs[0] == "config" {
		if r.Method != http.MethodGet {
			return "", nil, "", methodNotAllowed(r)
		}

		return routeConfig, nil, "", nil
	}
	if len(segs) < len(s.prefix) || !slices.Equal(segs[:len(s.prefix)], s.prefix) {
		return "", nil, "", badRequest("path %s is not under prefix %q", r.URL.Path, strings.Join(s.prefix, "/"))
	}
	segs = segs[len(s.prefix):]
	if len(segs) == 0 || segs[0] != "namespaces" {
		return "", nil, "", badRequest("unsupported path %s", r.URL.Path)
	}

	var routes map[string]string
	switch {
	case len(segs) == 1:
		routes = map[string]string{http.MethodGet: routeListNamespaces, http.MethodPost: routeCreateNamespace}
	case len(segs) == 2:
		routes = map[string]string{http.MethodGet: routeLoadNamespace, http.MethodHead: routeNamespaceExists,
			http.MethodDelete: routeDropNamespace}
	case len(segs) == 3 && segs[2] == "properties":
		routes = map[string]string{http.MethodPost: routeUpdateNamespace}
	case len(segs) == 3 && segs[2] == "tables":
		routes = map[string]string{http.MethodGet: routeListTables, http.MethodPost: routeCreateTable}
	case len(segs) == 4 && segs[2] == "tables":
		routes = map[string]string{http.MethodGet: routeLoadTable, http.MethodHead: routeTableExists,
			http.MethodPost: routeCommitTable, http.MethodDelete: routeDropTable}
	default:
		return "", nil, "", badRequest("unsupported path %s", r.URL.Path)
	}
	route, ok := routes[r.Method]
	if !ok {
		return "", nil, "", methodNotAllowed(r)
	}

	if len(segs) >= 2 {
		if ns, err = decodeNamespace(segs[1]); err != nil {
			return "", nil, "", err
		}
	}
	if len(segs) == 4 {
		if tbl, err = url.PathUnescape(segs[3]); err != nil || tbl == "" {
			return "", nil, "", badRequest("invalid table name %q", segs[3])
		}
	}

	return route, ns, tbl, nil
}

func methodNotAllowed(r *http.Request) error {
	return &apiError{status: http.StatusMethodNotAllowed, typ: errTypeBadRequest,
		err: fmt.Errorf("method %s not allowed on %s", r.Method, r.URL.Path)}
}

func splitPath(p string) []string {
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		if seg != "" {
			out = append(out, seg)
		}
	}

	return out
}

// decodeNamespace turns an escaped path segment into namespace levels. The
// client path-escapes each level and joins them with the %1F separator.
func decodeNamespace(seg string) (table.Identifier, error) {
	raw, err := url.PathUnescape(seg)
	if err != nil || raw == "" {
		return nil, badRequest("invalid namespace %q", seg)
	}

	return strings.Split(raw, namespaceSeparator), nil
}

func ident(ns table.Identifier, tbl string) table.Identifier {
	return append(slices.Clone(ns), tbl)
}

type configResponse struct {
	Defaults  iceberg.Properties `json:"defaults"`
	Overrides iceberg.Properties `json:"overrides"`
	Endpoints []string           `json:"endpoints"`
}

func (s *Server) config() configResponse {
	rsp := configResponse{Defaults: iceberg.Properties{}, Overrides: iceberg.Properties{}, Endpoints: advertisedEndpoints()}
	if len(s.prefix) > 0 {
		rsp.Overrides["prefix"] = strings.Join(s.prefix, "/")
	}

	return rsp
}

func decodeBody(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		return badRequest("invalid request body: %v", err)
	}

	return nil
}

// page applies the spec's pageToken/pageSize pagination to a sorted list.
// The token is the offset of the next item.
func page[T any](items []T, q url.Values) ([]T, string, error) {
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", badRequest("invalid pageToken %q", tok)
		}
		start = n
	}
	end := len(items)
	if ps := q.Get("pageSize"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 {
			return nil, "", badRequest("invalid pageSize %q", ps)
		}
		end = min(end, start+n)
	}
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}

	return items[start:end], next, nil
}

type namespacesResponse struct {
	Namespaces    []table.Identifier `json:"namespaces"`
	NextPageToken string             `json:"next-page-token,omitempty"`
}

func (s *Server) listNamespaces(ctx context.Context, q url.Values) (any, error) {
	var parent table.Identifier
	if p := q.Get("parent"); p != "" {
		parent = strings.Split(p, namespaceSeparator)
	}
	found, err := s.cat.ListNamespaces(ctx, parent)
	if err != nil {
		return nil, err
	}
	// The spec wants only the direct children of parent (top-level
	// namespaces without one); the SQL catalog also returns parent itself and
	// deeper descendants, and a nested namespace may exist without its
	// ancestors, so reduce every descendant to its child-level ancestor.
	var all []table.Identifier
	for _, ns := range found {
		if len(ns) <= len(parent) || !slices.Equal(ns[:len(parent)], parent) {
			continue
		}
		child := slices.Clone(ns[:len(parent)+1])
		if !slices.ContainsFunc(all, func(x table.Identifier) bool { return slices.Equal(x, child) }) {
			all = append(all, child)
		}
	}
	sort.Slice(all, func(i, j int) bool { return slices.Compare(all[i], all[j]) < 0 })
	items, next, err := page(all, q)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []table.Identifier{}
	}

	return namespacesResponse{Namespaces: items, NextPageToken: next}, nil
}

type namespaceBody struct {
	Namespace  table.Identifier   `json:"namespace"`
	Properties iceberg.Properties `json:"properties"`
}

func (s *Server) createNamespace(ctx context.Context, r *http.Request) (any, error) {
	var req namespaceBody
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Namespace) == 0 {
		return nil, badRequest("namespace is required")
	}
	if err := s.cat.CreateNamespace(ctx, req.Namespace, req.Properties); err != nil {
		return nil, err
	}
	if req.Properties == nil {
		req.Properties = iceberg.Properties{}
	}

	return req, nil
}

func (s *Server) loadNamespace(ctx context.Context, ns table.Identifier) (any, error) {
	props, err := s.cat.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		return nil, err
	}

	return namespaceBody{Namespace: ns, Properties: props}, nil
}

func (s *Server) namespaceExists(ctx context.Context, ns table.Identifier) error {
	ok, err := s.cat.CheckNamespaceExists(ctx, ns)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s", catalog.ErrNoSuchNamespace, strings.Join(ns, "."))
	}

	return err
}

func (s *Server) updateNamespace(ctx context.Context, r *http.Request, ns table.Identifier) (any, error) {
	var req struct {
		Removals []string           `json:"removals"`
		Updates  iceberg.Properties `json:"updates"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	sum, err := s.cat.UpdateNamespaceProperties(ctx, ns, req.Removals, req.Updates)
	if err != nil {
		return nil, err
	}
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}

		return v
	}

	return map[string][]string{
		"updated": nonNil(sum.Updated),
		"removed": nonNil(sum.Removed),
		"missing": nonNil(sum.Missing),
	}, nil
}

type tableIdentifier struct {
	Namespace table.Identifier `json:"namespace"`
	Name      string           `json:"name"`
}

func (s *Server) listTables(ctx context.Context, ns table.Identifier, q url.Values) (any, error) {
	var all []tableIdentifier
	for id, err := range s.cat.ListTables(ctx, ns) {
		if err != nil {
			return nil, err
		}
		all = append(all, tableIdentifier{Namespace: catalog.NamespaceFromIdent(id), Name: catalog.TableNameFromIdent(id)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	items, next, err := page(all, q)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []tableIdentifier{}
	}

	return struct {
		Identifiers   []tableIdentifier `json:"identifiers"`
		NextPageToken string            `json:"next-page-token,omitempty"`
	}{items, next}, nil
}

// loadTableResult is the spec's LoadTableResult.
type loadTableResult struct {
	MetadataLocation string             `json:"metadata-location,omitempty"`
	Metadata         table.Metadata     `json:"metadata"`
	Config           iceberg.Properties `json:"config"`
}

func (s *Server) tableResult(loc string, meta table.Metadata) loadTableResult {
	cfg := maps.Clone(s.tableConfig)
	if cfg == nil {
		cfg = iceberg.Properties{}
	}

	return loadTableResult{MetadataLocation: loc, Metadata: meta, Config: cfg}
}

func (s *Server) createTable(ctx context.Context, r *http.Request, ns table.Identifier) (any, error) {
	// Partition spec and write order arrive with source IDs that refer to the
	// request's schema; the Unbound types accept them and the SQL catalog
	// binds them while assigning fresh IDs (via table.NewMetadata).
	var req struct {
		Name          string                        `json:"name"`
		Schema        *iceberg.Schema               `json:"schema"`
		Location      string                        `json:"location"`
		PartitionSpec *iceberg.UnboundPartitionSpec `json:"partition-spec"`
		WriteOrder    *table.UnboundSortOrder       `json:"write-order"`
		StageCreate   bool                          `json:"stage-create"`
		Properties    iceberg.Properties            `json:"properties"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" || req.Schema == nil {
		return nil, badRequest("name and schema are required")
	}

	var (
		spec  *iceberg.PartitionSpec
		order = table.UnsortedSortOrder
	)
	if req.PartitionSpec != nil {
		spec = &req.PartitionSpec.PartitionSpec
	}
	if req.WriteOrder != nil {
		order = req.WriteOrder.SortOrder
	}

	id := ident(ns, req.Name)
	if req.StageCreate {
		// Nothing is stored: the client follows up with an assert-create
		// commit carrying the returned metadata, which creates the table.
		return s.stageCreate(ctx, id, req.Schema, spec, order, req.Location, req.Properties)
	}

	opts := []catalog.CreateTableOpt{catalog.WithSortOrder(order), catalog.WithProperties(req.Properties)}
	if spec != nil {
		opts = append(opts, catalog.WithPartitionSpec(spec))
	}
	if req.Location != "" {
		opts = append(opts, catalog.WithLocation(req.Location))
	}
	tbl, err := s.cat.CreateTable(ctx, id, req.Schema, opts...)
	if err != nil {
		return nil, err
	}

	return s.tableResult(tbl.MetadataLocation(), tbl.Metadata()), nil
}

func (s *Server) stageCreate(ctx context.Context, id table.Identifier, sc *iceberg.Schema, spec *iceberg.PartitionSpec,
	order table.SortOrder, loc string, props iceberg.Properties,
) (any, error) {
	ns := catalog.NamespaceFromIdent(id)
	if err := s.namespaceExists(ctx, ns); err != nil {
		return nil, err
	}
	exists, err := s.cat.CheckTableExists(ctx, id)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, fmt.Errorf("%w: %s", catalog.ErrTableAlreadyExists, strings.Join(id, "."))
	}
	if loc == "" {
		loc = strings.TrimRight(s.warehouse, "/") + "/" + strings.Join(ns, ".") + ".db/" + catalog.TableNameFromIdent(id)
	}
	meta, err := table.NewMetadata(sc, spec, order, strings.TrimRight(loc, "/"), props)
	if err != nil {
		return nil, badRequest("invalid table: %v", err)
	}

	return s.tableResult("", meta), nil
}

func (s *Server) loadTable(ctx context.Context, id table.Identifier) (any, error) {
	tbl, err := s.cat.LoadTable(ctx, id)
	if err != nil {
		return nil, err
	}

	return s.tableResult(tbl.MetadataLocation(), tbl.Metadata()), nil
}

func (s *Server) tableExists(ctx context.Context, id table.Identifier) error {
	ok, err := s.cat.CheckTableExists(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s", catalog.ErrNoSuchTable, strings.Join(id, "."))
	}

	return err
}

func (s *Server) dropTable(ctx context.Context, id table.Identifier, purge bool) error {
	if purge {
		return s.cat.PurgeTable(ctx, id)
	}

	return s.cat.DropTable(ctx, id)
}

// checkedRequirement marks a requirement's validation failure as a commit
// conflict, so it is reported as 409 even when it only fails inside the SQL
// catalog's CommitTable (a concurrent commit landed after the pre-check).
type checkedRequirement struct{ table.Requirement }

func (c checkedRequirement) Validate(meta table.Metadata) error {
	if err := c.Requirement.Validate(meta); err != nil {
		return fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
	}

	return nil
}

// commitTableResponse is the spec's CommitTableResponse.
type commitTableResponse struct {
	MetadataLocation string         `json:"metadata-location"`
	Metadata         table.Metadata `json:"metadata"`
}

// commitTable applies a CommitTableRequest. Requirements are checked against
// the current metadata (409 on failure), the updates are test-applied
// (400 if they cannot be), then the SQL catalog's CommitTable re-validates,
// writes the new metadata file and swaps the metadata location only if it is
// still the one the requirements were checked against (409 otherwise).
func (s *Server) commitTable(ctx context.Context, r *http.Request, id table.Identifier) (any, error) {
	var req struct {
		Requirements table.Requirements `json:"requirements"`
		Updates      table.Updates      `json:"updates"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}

	create := false
	reqs := make([]table.Requirement, len(req.Requirements))
	for i, rq := range req.Requirements {
		create = create || rq.GetType() == "assert-create"
		reqs[i] = checkedRequirement{rq}
	}

	current, err := s.cat.LoadTable(ctx, id)
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable) && create:
		// A staged create: the SQL catalog builds the table from the updates.
		if err := s.namespaceExists(ctx, catalog.NamespaceFromIdent(id)); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		for _, rq := range reqs {
			if err := rq.Validate(current.Metadata()); err != nil {
				return nil, err
			}
		}
		if _, err := table.UpdateTableMetadata(current.Metadata(), req.Updates, current.MetadataLocation()); err != nil {
			return nil, badRequest("cannot apply updates: %v", err)
		}
	}

	meta, loc, err := s.cat.CommitTable(ctx, id, reqs, req.Updates)
	if err != nil {
		return nil, err
	}

	return commitTableResponse{MetadataLocation: loc, Metadata: meta}, nil
}

// errorStatus maps catalog errors to the spec's status codes and types.
func errorStatus(err error) (int, string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.typ
	case errors.Is(err, table.ErrCommitFailed):
		return http.StatusConflict, errTypeCommitFailed
	case errors.Is(err, catalog.ErrNoSuchTable):
		return http.StatusNotFound, errTypeNoSuchTable
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		return http.StatusNotFound, errTypeNoSuchNS
	case errors.Is(err, catalog.ErrTableAlreadyExists), errors.Is(err, catalog.ErrNamespaceAlreadyExists),
		errors.Is(err, catalog.ErrViewAlreadyExists):
		return http.StatusConflict, errTypeAlreadyExists
	case errors.Is(err, catalog.ErrNamespaceNotEmpty):
		return http.StatusConflict, errTypeNSNotEmpty
	case errors.Is(err, iceberg.ErrInvalidArgument), errors.Is(err, catalog.ErrInvalidIdentifier):
		return http.StatusBadRequest, errTypeBadRequest
	default:
		return http.StatusInternalServerError, errTypeServiceFailure
	}
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, typ := errorStatus(err)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)

		return
	}
	type errorModel struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	}
	writeJSON(w, status, struct {
		Error errorModel `json:"error"`
	}{errorModel{Message: err.Error(), Type: typ, Code: status}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(fmt.Sprintf(`{"error":{"message":%q,"type":%q,"code":500}}`, err.Error(), errTypeServiceFailure))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
