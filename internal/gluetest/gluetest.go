// Package gluetest is a small model of the AWS Glue Data Catalog API for tests: an
// http.Handler speaking Glue's AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// AWSGlue.<Operation>, JSON bodies; errors as HTTP 400 with {"__type": "<Exception>",
// "Message": "..."}), holding databases and tables in memory. It serves the calls
// apache/iceberg-go's Glue catalog (catalog/glue) makes, so that marketrail's
// --catalog glue can run end to end with AWS_ENDPOINT_URL_GLUE pointing here.
//
// Modelled, after the Glue API reference:
//
//   - CreateDatabase, GetDatabase: AlreadyExistsException for a database that exists,
//     EntityNotFoundException for one that does not. Names are stored and matched in lower
//     case, as Glue does ("for Hive compatibility").
//   - CreateTable, GetTable, UpdateTable, DeleteTable, GetTables: EntityNotFoundException
//     for a missing database or table, AlreadyExistsException for a table that exists.
//     The table is what its TableInput says (UpdateTable replaces it whole), plus
//     DatabaseName, CatalogId, CreateTime, UpdateTime and VersionId.
//   - Optimistic concurrency: every table has a VersionId, a decimal counter starting at
//     "0" that each UpdateTable bumps (whatever SkipArchive says). An UpdateTable whose
//     VersionId is not the table's current one fails with ConcurrentModificationException
//     and changes nothing; one without a VersionId updates unconditionally, as in Glue.
//   - SkipArchive: unless it is true, UpdateTable keeps the replaced version (Archived
//     counts them; Glue lists them with GetTableVersions, which is not modelled).
//
// Not modelled: authentication and authorisation (SigV4 headers are accepted as they
// are, any credentials do); CatalogId (accepted and ignored: there is one catalog, of
// account AccountID); Lake Formation, transactions (TransactionId), governed and
// open-table-format inputs, views, partitions, tags, resource limits, throttling,
// pagination beyond GetTables' NextToken, and every other operation, which fails with
// UnknownOperationException. A request field the model does not know fails with
// SerializationException, and a known one it does not model (TransactionId,
// OpenTableFormatInput …) with InvalidInputException, so that a client relying on either
// learns it here rather than against Glue. Column, StorageDescriptor and the like are
// kept as the client sent them, without Glue's validation or defaults.
package gluetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AccountID is the account of the one catalog the server holds (responses' CatalogId).
const AccountID = "123456789012"

// Server is an in-memory Glue Data Catalog. Its zero value is not usable; use New.
type Server struct {
	mu     sync.Mutex
	dbs    map[string]*database
	calls  map[string]int
	errs   map[string]int
	nextID int
}

type database struct {
	name        string
	description *string
	location    *string
	params      map[string]string
	created     time.Time
	tables      map[string]*tableState
}

type tableState struct {
	input    tableInput
	created  time.Time
	updated  time.Time
	version  int
	archived []tableInput
}

// New returns an empty catalog.
func New() *Server {
	return &Server{dbs: map[string]*database{}, calls: map[string]int{}, errs: map[string]int{}}
}

// Start serves a new catalog on 127.0.0.1 for the test's duration and returns it with its
// URL (for AWS_ENDPOINT_URL_GLUE, or a client's BaseEndpoint).
func Start(t testing.TB) (*Server, string) {
	t.Helper()
	s := New()
	ts := httptest.NewServer(s) // listens on 127.0.0.1
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// Calls counts the requests by operation ("UpdateTable"), failed ones included.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// Errors counts the failed requests by operation and error type
// ("UpdateTable ConcurrentModificationException").
func (s *Server) Errors() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errs)
}

// Table returns a copy of the parameters of table name in database db (matched in lower
// case, as Glue matches names), and whether the table exists.
func (s *Server) Table(db, name string) (params map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, err := s.lookup(db, name)
	if err != nil {
		return nil, false
	}
	return maps.Clone(tb.input.Parameters), true
}

// Version returns the VersionId of table name in database db ("" if there is no such
// table).
func (s *Server) Version(db, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, err := s.lookup(db, name)
	if err != nil {
		return ""
	}
	return strconv.Itoa(tb.version)
}

// Archived returns how many replaced versions of the table UpdateTable archived (those
// updates without SkipArchive=true).
func (s *Server) Archived(db, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, err := s.lookup(db, name)
	if err != nil {
		return 0
	}
	return len(tb.archived)
}

// apiError is a Glue error: its type (the __type of the body) and message.
type apiError struct {
	typ, msg string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func errorf(typ, format string, args ...any) *apiError {
	return &apiError{typ, fmt.Sprintf(format, args...)}
}

const target = "AWSGlue."

// ServeHTTP implements http.Handler: one Glue API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), target)
	s.mu.Lock()
	s.nextID++
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("gluetest-%d", s.nextID))
	s.mu.Unlock()
	var out any
	var err *apiError
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		err = errorf("UnknownOperationException", "%s %s: the Glue API is POST /", r.Method, r.URL.Path)
	case !ok || op == "":
		err = errorf("UnknownOperationException", "X-Amz-Target %q is not an AWSGlue operation", r.Header.Get("X-Amz-Target"))
	default:
		body, rerr := io.ReadAll(r.Body)
		if rerr != nil {
			err = errorf("SerializationException", "read the request: %v", rerr)
			break
		}
		s.mu.Lock()
		s.calls[op]++
		out, err = s.do(op, body)
		if err != nil {
			s.errs[op+" "+err.typ]++
		}
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": err.typ, "Message": err.msg})
		return
	}
	json.NewEncoder(w).Encode(out)
}

// do runs operation op on the request body, under s.mu.
func (s *Server) do(op string, body []byte) (any, *apiError) {
	now := time.Now()
	switch op {
	case "CreateDatabase":
		var in createDatabaseInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.createDatabase(in, now)
	case "GetDatabase":
		var in getDatabaseInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		db, err := s.database(in.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"Database": db.out()}, nil
	case "CreateTable":
		var in createTableInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.createTable(in, now)
	case "GetTable":
		var in getTableInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if in.TransactionId != nil || in.QueryAsOfTime != nil {
			return nil, notModelled("GetTable", "TransactionId and QueryAsOfTime")
		}
		tb, err := s.lookup(in.DatabaseName, in.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"Table": tb.out(strings.ToLower(in.DatabaseName))}, nil
	case "UpdateTable":
		var in updateTableInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.updateTable(in, now)
	case "DeleteTable":
		var in deleteTableInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if in.TransactionId != nil {
			return nil, notModelled("DeleteTable", "TransactionId")
		}
		db, err := s.database(in.DatabaseName)
		if err != nil {
			return nil, err
		}
		if _, err := s.lookup(in.DatabaseName, in.Name); err != nil {
			return nil, err
		}
		delete(db.tables, strings.ToLower(in.Name))
		return struct{}{}, nil
	case "GetTables":
		var in getTablesInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.getTables(in)
	}
	return nil, errorf("UnknownOperationException", "gluetest does not model %s", op)
}

// decode reads a request body into in, refusing fields in does not declare.
func decode(body []byte, in any) *apiError {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(in); err != nil {
		return errorf("SerializationException", "gluetest: %v", err)
	}
	return nil
}

func notModelled(op, what string) *apiError {
	return errorf("InvalidInputException", "gluetest: %s with %s is not modelled", op, what)
}

func required(what, v string) *apiError {
	if v == "" {
		return errorf("InvalidInputException", "%s is required", what)
	}
	return nil
}

// database returns the database name, or EntityNotFoundException.
func (s *Server) database(name string) (*database, *apiError) {
	if err := required("Name", name); err != nil {
		return nil, err
	}
	db, ok := s.dbs[strings.ToLower(name)]
	if !ok {
		return nil, errorf("EntityNotFoundException", "Database %s not found.", strings.ToLower(name))
	}
	return db, nil
}

// lookup returns the table, or EntityNotFoundException for it or its database.
func (s *Server) lookup(dbName, name string) (*tableState, *apiError) {
	db, err := s.database(dbName)
	if err != nil {
		return nil, err
	}
	if err := required("Name", name); err != nil {
		return nil, err
	}
	tb, ok := db.tables[strings.ToLower(name)]
	if !ok {
		return nil, errorf("EntityNotFoundException", "Table %s not found.", strings.ToLower(name))
	}
	return tb, nil
}

func (s *Server) createDatabase(in createDatabaseInput, now time.Time) (any, *apiError) {
	if in.DatabaseInput == nil {
		return nil, errorf("InvalidInputException", "DatabaseInput is required")
	}
	di := in.DatabaseInput
	if err := required("DatabaseInput.Name", di.Name); err != nil {
		return nil, err
	}
	if len(di.TargetDatabase) > 0 || len(di.FederatedDatabase) > 0 || len(di.CreateTableDefaultPermissions) > 0 || len(in.Tags) > 0 {
		return nil, notModelled("CreateDatabase", "TargetDatabase, FederatedDatabase, CreateTableDefaultPermissions or Tags")
	}
	name := strings.ToLower(di.Name)
	if _, ok := s.dbs[name]; ok {
		return nil, errorf("AlreadyExistsException", "Database already exists.")
	}
	s.dbs[name] = &database{
		name: name, description: di.Description, location: di.LocationUri,
		params: maps.Clone(di.Parameters), created: now, tables: map[string]*tableState{},
	}
	return struct{}{}, nil
}

func (s *Server) createTable(in createTableInput, now time.Time) (any, *apiError) {
	if in.TransactionId != nil || len(in.OpenTableFormatInput) > 0 || len(in.PartitionIndexes) > 0 {
		return nil, notModelled("CreateTable", "TransactionId, OpenTableFormatInput or PartitionIndexes")
	}
	db, err := s.database(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	ti, err := checkInput(in.TableInput)
	if err != nil {
		return nil, err
	}
	if _, ok := db.tables[ti.Name]; ok {
		return nil, errorf("AlreadyExistsException", "Table already exists.")
	}
	db.tables[ti.Name] = &tableState{input: ti, created: now, updated: now}
	return struct{}{}, nil
}

func (s *Server) updateTable(in updateTableInput, now time.Time) (any, *apiError) {
	if in.TransactionId != nil || in.Force || len(in.UpdateOpenTableFormatInput) > 0 || in.ViewUpdateAction != "" {
		return nil, notModelled("UpdateTable", "TransactionId, Force, UpdateOpenTableFormatInput or ViewUpdateAction")
	}
	ti, err := checkInput(in.TableInput)
	if err != nil {
		return nil, err
	}
	name := ti.Name
	if in.Name != nil {
		name = strings.ToLower(*in.Name)
	}
	tb, err := s.lookup(in.DatabaseName, name)
	if err != nil {
		return nil, err
	}
	if ti.Name != name {
		return nil, errorf("InvalidInputException", "gluetest: UpdateTable does not rename %s to %s", name, ti.Name)
	}
	if in.VersionId != nil && *in.VersionId != strconv.Itoa(tb.version) {
		return nil, errorf("ConcurrentModificationException",
			"Update table failed due to concurrent modifications: version %s is not the table's current version %d.", *in.VersionId, tb.version)
	}
	if in.SkipArchive == nil || !*in.SkipArchive {
		tb.archived = append(tb.archived, tb.input)
	}
	tb.input, tb.updated = ti, now
	tb.version++
	return struct{}{}, nil
}

func (s *Server) getTables(in getTablesInput) (any, *apiError) {
	if in.Expression != nil || in.TransactionId != nil || in.QueryAsOfTime != nil || in.IncludeStatusDetails || len(in.AttributesToGet) > 0 {
		return nil, notModelled("GetTables", "Expression, TransactionId, QueryAsOfTime, IncludeStatusDetails or AttributesToGet")
	}
	db, err := s.database(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(db.tables))
	start := 0
	if in.NextToken != nil {
		n, cerr := strconv.Atoi(*in.NextToken)
		if cerr != nil || n < 0 || n > len(names) {
			return nil, errorf("InvalidInputException", "bad NextToken %q", *in.NextToken)
		}
		start = n
	}
	end := len(names)
	if in.MaxResults != nil && *in.MaxResults > 0 {
		end = min(end, start+*in.MaxResults)
	}
	list := []tableOut{}
	for _, n := range names[start:end] {
		list = append(list, db.tables[n].out(db.name))
	}
	res := map[string]any{"TableList": list}
	if end < len(names) {
		res["NextToken"] = strconv.Itoa(end)
	}
	return res, nil
}

// checkInput validates a TableInput and returns it with its name in lower case.
func checkInput(ti *tableInput) (tableInput, *apiError) {
	if ti == nil {
		return tableInput{}, errorf("InvalidInputException", "TableInput is required")
	}
	if err := required("TableInput.Name", ti.Name); err != nil {
		return tableInput{}, err
	}
	if len(ti.ViewDefinition) > 0 {
		return tableInput{}, notModelled("a table", "ViewDefinition")
	}
	out := *ti
	out.Name = strings.ToLower(ti.Name)
	out.Parameters = maps.Clone(ti.Parameters)
	return out, nil
}

// The requests' shapes (the fields of the Glue API reference the model reads or
// refuses).

type createDatabaseInput struct {
	CatalogId     *string
	DatabaseInput *databaseInput
	Tags          map[string]string
}

type databaseInput struct {
	Name                          string
	Description                   *string
	LocationUri                   *string
	Parameters                    map[string]string
	CreateTableDefaultPermissions json.RawMessage
	TargetDatabase                json.RawMessage
	FederatedDatabase             json.RawMessage
}

type getDatabaseInput struct {
	CatalogId *string
	Name      string
}

type tableInput struct {
	Name              string
	Description       *string           `json:",omitempty"`
	Owner             *string           `json:",omitempty"`
	LastAccessTime    *json.Number      `json:",omitempty"`
	LastAnalyzedTime  *json.Number      `json:",omitempty"`
	Retention         int32             `json:",omitempty"`
	StorageDescriptor json.RawMessage   `json:",omitempty"`
	PartitionKeys     json.RawMessage   `json:",omitempty"`
	ViewOriginalText  *string           `json:",omitempty"`
	ViewExpandedText  *string           `json:",omitempty"`
	TableType         *string           `json:",omitempty"`
	Parameters        map[string]string `json:",omitempty"`
	TargetTable       json.RawMessage   `json:",omitempty"`
	ViewDefinition    json.RawMessage   `json:",omitempty"`
}

type createTableInput struct {
	CatalogId            *string
	DatabaseName         string
	TableInput           *tableInput
	PartitionIndexes     json.RawMessage
	TransactionId        *string
	OpenTableFormatInput json.RawMessage
}

type getTableInput struct {
	CatalogId     *string
	DatabaseName  string
	Name          string
	TransactionId *string
	QueryAsOfTime *json.Number
}

type updateTableInput struct {
	CatalogId                  *string
	DatabaseName               string
	Name                       *string
	TableInput                 *tableInput
	SkipArchive                *bool
	VersionId                  *string
	TransactionId              *string
	Force                      bool
	UpdateOpenTableFormatInput json.RawMessage
	ViewUpdateAction           string
}

type deleteTableInput struct {
	CatalogId     *string
	DatabaseName  string
	Name          string
	TransactionId *string
}

type getTablesInput struct {
	CatalogId            *string
	DatabaseName         string
	Expression           *string
	NextToken            *string
	MaxResults           *int
	TransactionId        *string
	QueryAsOfTime        *json.Number
	IncludeStatusDetails bool
	AttributesToGet      []string
}

// The responses' shapes.

type databaseOut struct {
	Name        string
	CatalogId   string
	Description *string           `json:",omitempty"`
	LocationUri *string           `json:",omitempty"`
	Parameters  map[string]string `json:",omitempty"`
	CreateTime  json.Number
}

func (db *database) out() databaseOut {
	return databaseOut{
		Name: db.name, CatalogId: AccountID, Description: db.description, LocationUri: db.location,
		Parameters: maps.Clone(db.params), CreateTime: epoch(db.created),
	}
}

type tableOut struct {
	tableInput
	DatabaseName                  string
	CatalogId                     string
	CreateTime                    json.Number
	UpdateTime                    json.Number
	VersionId                     string
	IsRegisteredWithLakeFormation bool
}

func (tb *tableState) out(db string) tableOut {
	in := tb.input
	in.Parameters = maps.Clone(in.Parameters)
	return tableOut{
		tableInput: in, DatabaseName: db, CatalogId: AccountID,
		CreateTime: epoch(tb.created), UpdateTime: epoch(tb.updated), VersionId: strconv.Itoa(tb.version),
	}
}

// epoch is t as the JSON protocols' timestamps are: seconds since 1970, with a fraction.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}
