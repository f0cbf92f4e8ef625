package gluetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergglue "github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"
)

func awsConfig(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "y", ""),
	}
}

func client(url string) *glue.Client { return glue.NewFromConfig(awsConfig(url)) }

// code is the Glue error type of err ("" if it is not an API error).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func newTableInput(name, metadata string) *types.TableInput {
	return &types.TableInput{
		Name:      aws.String(name),
		TableType: aws.String("EXTERNAL_TABLE"),
		Parameters: map[string]string{
			"table_type": "ICEBERG", "metadata_location": metadata,
		},
		StorageDescriptor: &types.StorageDescriptor{
			Location: aws.String("s3://bucket/lake/" + strings.ToLower(name)),
			Columns:  []types.Column{{Name: aws.String("id"), Type: aws.String("bigint"), Parameters: map[string]string{"iceberg.field.id": "1"}}},
		},
	}
}

// TestSDK drives the server with aws-sdk-go-v2's Glue client: the happy paths, and each
// error as the SDK's typed exception.
func TestSDK(t *testing.T) {
	ctx := context.Background()
	s, url := Start(t)
	c := client(url)

	if _, err := c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("mkt")}); !errors.As(err, new(*types.EntityNotFoundException)) {
		t.Fatalf("GetDatabase of a missing database: %v, want EntityNotFoundException", err)
	}
	_, err := c.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{
		Name: aws.String("MKT"), Description: aws.String("marketplace"), LocationUri: aws.String("s3://bucket/lake"),
		Parameters: map[string]string{"k": "v"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{Name: aws.String("mkt")}}); !errors.As(err, new(*types.AlreadyExistsException)) {
		t.Fatalf("CreateDatabase again: %v, want AlreadyExistsException", err)
	}
	db, err := c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("Mkt")})
	if err != nil {
		t.Fatal(err)
	}
	if d := db.Database; aws.ToString(d.Name) != "mkt" || aws.ToString(d.Description) != "marketplace" || aws.ToString(d.LocationUri) != "s3://bucket/lake" ||
		d.Parameters["k"] != "v" || d.CreateTime == nil || d.CreateTime.IsZero() || aws.ToString(d.CatalogId) != AccountID {
		t.Errorf("GetDatabase: %+v", d)
	}

	// Tables.
	if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("nope"), TableInput: newTableInput("events", "m0")}); !errors.As(err, new(*types.EntityNotFoundException)) {
		t.Fatalf("CreateTable in a missing database: %v, want EntityNotFoundException", err)
	}
	if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("mkt"), TableInput: newTableInput("Events", "m0")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("mkt"), TableInput: newTableInput("events", "other")}); !errors.As(err, new(*types.AlreadyExistsException)) {
		t.Fatalf("CreateTable again: %v, want AlreadyExistsException", err)
	}
	for _, q := range []struct{ db, table string }{{"nope", "events"}, {"mkt", "nope"}} {
		_, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(q.db), Name: aws.String(q.table)})
		if !errors.As(err, new(*types.EntityNotFoundException)) || !strings.Contains(err.Error(), "nope not found") {
			t.Errorf("GetTable %s.%s: %v, want EntityNotFoundException naming it", q.db, q.table, err)
		}
	}
	get := func() *types.Table {
		t.Helper()
		out, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("mkt"), Name: aws.String("EVENTS")})
		if err != nil {
			t.Fatal(err)
		}
		return out.Table
	}
	tb := get()
	if aws.ToString(tb.Name) != "events" || aws.ToString(tb.DatabaseName) != "mkt" || aws.ToString(tb.TableType) != "EXTERNAL_TABLE" ||
		tb.Parameters["metadata_location"] != "m0" || tb.Parameters["table_type"] != "ICEBERG" || aws.ToString(tb.VersionId) != "0" ||
		tb.StorageDescriptor == nil || aws.ToString(tb.StorageDescriptor.Location) != "s3://bucket/lake/events" ||
		len(tb.StorageDescriptor.Columns) != 1 || tb.StorageDescriptor.Columns[0].Parameters["iceberg.field.id"] != "1" ||
		tb.CreateTime == nil || tb.UpdateTime == nil {
		t.Errorf("GetTable: %+v", tb)
	}

	// Optimistic concurrency: each update bumps VersionId; a stale one is refused.
	update := func(metadata string, version *string, skip *bool) error {
		in := newTableInput("events", metadata)
		in.Parameters["previous_metadata_location"] = "m0"
		_, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("mkt"), TableInput: in, VersionId: version, SkipArchive: skip})
		return err
	}
	if err := update("m1", aws.String("0"), aws.Bool(true)); err != nil {
		t.Fatal(err)
	}
	if tb := get(); aws.ToString(tb.VersionId) != "1" || tb.Parameters["metadata_location"] != "m1" || tb.Parameters["previous_metadata_location"] != "m0" {
		t.Errorf("after an update: version %s, parameters %v", aws.ToString(tb.VersionId), tb.Parameters)
	}
	if err := update("stale", aws.String("0"), aws.Bool(true)); !errors.As(err, new(*types.ConcurrentModificationException)) {
		t.Fatalf("UpdateTable at a stale version: %v, want ConcurrentModificationException", err)
	}
	if p, _ := s.Table("mkt", "events"); p["metadata_location"] != "m1" {
		t.Errorf("a refused update changed the table: %v", p)
	}
	if s.Archived("mkt", "events") != 0 {
		t.Errorf("SkipArchive=true archived a version")
	}
	if err := update("m2", nil, nil); err != nil { // no VersionId: unconditional; archived
		t.Fatal(err)
	}
	if v, n := s.Version("mkt", "events"), s.Archived("mkt", "events"); v != "2" || n != 1 {
		t.Errorf("after an unconditional update without SkipArchive: version %s, %d archived; want 2, 1", v, n)
	}
	if _, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("mkt"), TableInput: newTableInput("nope", "x")}); !errors.As(err, new(*types.EntityNotFoundException)) {
		t.Errorf("UpdateTable of a missing table: %v, want EntityNotFoundException", err)
	}

	// GetTables pages; DeleteTable.
	for _, n := range []string{"b", "c"} {
		if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("mkt"), TableInput: newTableInput(n, "m")}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := glue.NewGetTablesPaginator(c, &glue.GetTablesInput{DatabaseName: aws.String("mkt"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range page.TableList {
			names = append(names, aws.ToString(tb.Name))
		}
	}
	if strings.Join(names, ",") != "b,c,events" {
		t.Errorf("GetTables: %v", names)
	}
	if _, err := c.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("mkt"), Name: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Table("mkt", "b"); ok {
		t.Errorf("table b is still there after DeleteTable")
	}

	// What is not modelled says so.
	if _, err := c.GetPartitions(ctx, &glue.GetPartitionsInput{DatabaseName: aws.String("mkt"), TableName: aws.String("events")}); code(err) != "UnknownOperationException" {
		t.Errorf("GetPartitions: %v, want UnknownOperationException", err)
	}
	if _, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("mkt"), Name: aws.String("events"), TransactionId: aws.String("tx")}); code(err) != "InvalidInputException" {
		t.Errorf("GetTable with a transaction: %v, want InvalidInputException", err)
	}

	calls, errs := s.Calls(), s.Errors()
	if calls["UpdateTable"] != 4 || calls["CreateTable"] != 5 || errs["UpdateTable ConcurrentModificationException"] != 1 || errs["CreateTable AlreadyExistsException"] != 1 {
		t.Errorf("Calls %v, Errors %v", calls, errs)
	}
}

// TestProtocol: the wire format of an error, and a request field the model does not know.
func TestProtocol(t *testing.T) {
	_, url := Start(t)
	post := func(op, body string) (int, map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSGlue."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]string
		json.Unmarshal(b, &out)
		if ct := res.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("Content-Type %q", ct)
		}
		return res.StatusCode, out
	}
	if st, out := post("GetDatabase", `{"Name":"x"}`); st != 400 || out["__type"] != "EntityNotFoundException" || out["Message"] != "Database x not found." {
		t.Errorf("GetDatabase x: %d %v", st, out)
	}
	if st, out := post("GetDatabase", `{"Name":"x","Frobnicate":true}`); st != 400 || out["__type"] != "SerializationException" {
		t.Errorf("an unknown field: %d %v", st, out)
	}
	if st, out := post("CreateDatabase", `{"DatabaseInput":{"Name":"x"}}`); st != 200 || len(out) != 0 {
		t.Errorf("CreateDatabase: %d %v", st, out)
	}
}

// TestIcebergGo: iceberg-go's Glue catalog on the server maps its errors to the catalog
// package's (ErrNamespaceAlreadyExists, ErrNoSuchTable, ErrTableAlreadyExists) and a
// ConcurrentModificationException to table.ErrCommitFailed.
func TestIcebergGo(t *testing.T) {
	ctx := context.Background()
	inner := New()
	// The first UpdateTable of the table is raced: the same update, made unconditional, is
	// applied first, so the client's VersionId is stale by the time its own arrives.
	var once sync.Once
	race := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "AWSGlue.UpdateTable" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			once.Do(func() {
				var in map[string]any
				json.Unmarshal(body, &in)
				delete(in, "VersionId")
				b, _ := json.Marshal(in)
				other := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
				other.Header = r.Header.Clone()
				inner.ServeHTTP(httptest.NewRecorder(), other)
			})
		}
		inner.ServeHTTP(w, r)
	})
	ts := httptest.NewServer(race)
	t.Cleanup(ts.Close)
	cat, err := icebergglue.NewCatalog(icebergglue.WithAwsConfig(awsConfig(ts.URL)))
	if err != nil {
		t.Fatal(err)
	}
	ns := table.Identifier{"mkt"}
	if ok, err := cat.CheckNamespaceExists(ctx, ns); ok || err != nil {
		t.Fatalf("CheckNamespaceExists before: %v %v", ok, err)
	}
	if err := cat.CreateNamespace(ctx, ns, iceberg.Properties{"comment": "c"}); err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateNamespace(ctx, ns, nil); !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Fatalf("CreateNamespace again: %v", err)
	}
	id := table.Identifier{"mkt", "events"}
	if _, err := cat.LoadTable(ctx, id); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("LoadTable of a missing table: %v", err)
	}
	schema := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	loc := "file://" + filepath.Join(t.TempDir(), "events")
	tbl, err := cat.CreateTable(ctx, id, schema, catalog.WithLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CreateTable(ctx, id, schema, catalog.WithLocation(loc)); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Fatalf("CreateTable again: %v", err)
	}
	if p, _ := inner.Table("mkt", "events"); p["metadata_location"] != tbl.MetadataLocation() || p["table_type"] != "ICEBERG" {
		t.Errorf("the table's parameters: %v, want metadata_location %s", p, tbl.MetadataLocation())
	}
	commit := func(v string) error {
		_, _, err := cat.CommitTable(ctx, id, []table.Requirement{table.AssertTableUUID(tbl.Metadata().TableUUID())},
			[]table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"k": v})})
		return err
	}
	if err := commit("1"); !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("a commit raced by another: %v, want table.ErrCommitFailed", err)
	}
	if err := commit("2"); err != nil {
		t.Fatalf("the commit again: %v", err)
	}
	p, _ := inner.Table("mkt", "events")
	got, err := cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Properties()["k"] != "2" || p["metadata_location"] != got.MetadataLocation() || p["previous_metadata_location"] == "" {
		t.Errorf("after the commits: properties %v, Glue parameters %v", got.Properties(), p)
	}
	if v, n := inner.Version("mkt", "events"), inner.Archived("mkt", "events"); v != "2" || n != 0 {
		t.Errorf("version %s, %d archived; want 2 (the racing update and the commit), none archived (iceberg-go skips the archive)", v, n)
	}
	if e := inner.Errors(); e["UpdateTable ConcurrentModificationException"] != 1 {
		t.Errorf("errors %v", e)
	}
}
