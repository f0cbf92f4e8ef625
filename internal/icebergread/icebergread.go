// Package icebergread reads the current state of an Apache Iceberg table
// (format v1 or v2) straight from its files: the metadata.json, the
// current snapshot's manifest list and its manifests.
//
// It exists for tests. Tables are written with iceberg-go; checking them
// with iceberg-go's own read path would let a bug shared by its writer and
// reader pass unnoticed. This package parses the Iceberg spec formats
// itself, with encoding/json for the metadata and github.com/twmb/avro
// (not iceberg-go's code) for the Avro manifest files, so what a test
// asserts is what any Iceberg engine would see.
//
// It deliberately covers only what the tests need: the current snapshot's
// live data files with their partition values and column metrics, the
// snapshot history, the current schema flattened, and the default partition
// spec. Delete files (merge-on-read) are not applied; a table that has any
// in its current snapshot is reported as an error rather than read wrongly.
package icebergread

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/avro/ocf"
)

// ReadFunc returns the whole content of the file at uri (file:///abs/path or
// s3://bucket/key). Load calls it for the metadata file, the manifest list
// and each manifest, so a test can serve a table from disk, from an S3 fake
// or from memory.
type ReadFunc func(ctx context.Context, uri string) ([]byte, error)

// Table is the state of an Iceberg table as its current metadata file
// describes it.
type Table struct {
	// FormatVersion is the table's format-version (1 or 2).
	FormatVersion int
	// Location is the table's base location.
	Location string
	// CurrentSnapshot is the snapshot the table reads; nil for a table with
	// no snapshot yet. It points into Snapshots.
	CurrentSnapshot *Snapshot
	// Snapshots are all the snapshots the metadata keeps, in file order.
	Snapshots []Snapshot
	// SchemaFields is the current schema flattened in pre-order: a struct
	// field comes before its children, a child's name is its parent's name
	// and its own joined by a dot, and the element of a list is named
	// "<list>.element" (a map's parts "<map>.key" and "<map>.value").
	SchemaFields []Field
	// PartitionFields are the fields of the default partition spec.
	PartitionFields []PartitionField
	// Properties are the table properties.
	Properties map[string]string
	// Files are the live data files of the current snapshot, sorted by path.
	Files []DataFile
}

// Snapshot is one entry of the metadata's snapshots list.
type Snapshot struct {
	ID int64
	// ParentID is nil for the first snapshot.
	ParentID       *int64
	SequenceNumber int64
	TimestampMs    int64
	// Operation is Summary["operation"]: append, replace, overwrite, delete.
	Operation    string
	Summary      map[string]string
	ManifestList string
}

// Field is one field of the flattened current schema.
type Field struct {
	ID int
	// Name is the dotted path, e.g. "user_identity.arn" or "resources.element".
	Name string
	// Type is the Iceberg type as the metadata spells it for primitives
	// ("long", "timestamptz", "decimal(9,2)", ...) and "struct", "list" or
	// "map" for nested types.
	Type     string
	Required bool
}

// PartitionField is one field of the default partition spec.
type PartitionField struct {
	// SourceID is the schema field the transform reads (the first of
	// source-ids for a multi-argument transform).
	SourceID  int
	FieldID   int
	Name      string
	Transform string
}

// DataFile is one live data file of the current snapshot.
type DataFile struct {
	Path string
	// Format is the file_format as written, e.g. "PARQUET".
	Format    string
	Records   int64
	SizeBytes int64
	// Status is the manifest entry status: 0 existing, 1 added (deleted
	// entries, status 2, are not live and never appear here).
	Status int
	// SnapshotID is the snapshot that added the file, when the entry says.
	SnapshotID *int64
	// Partition maps partition field names to their values in Iceberg's
	// representation: int32 for int and date (days since 1970-01-01, as
	// the day transform yields), int64 for long and timestamps
	// (microseconds), string, []byte, bool, float32/float64; nil for null.
	Partition map[string]any
	// LowerBounds and UpperBounds map field ids to Iceberg's single-value
	// binary serialization (see TimestampMicros).
	LowerBounds, UpperBounds map[int][]byte
	// ValueCounts and NullCounts map field ids to counts.
	ValueCounts, NullCounts map[int]int64
}

// metadata mirrors the parts of metadata.json that Load reads.
type metadata struct {
	FormatVersion     *int              `json:"format-version"`
	Location          string            `json:"location"`
	CurrentSnapshotID *int64            `json:"current-snapshot-id"`
	Snapshots         []snapshotJSON    `json:"snapshots"`
	CurrentSchemaID   *int              `json:"current-schema-id"`
	Schemas           []schemaJSON      `json:"schemas"`
	Schema            *schemaJSON       `json:"schema"` // v1 only
	DefaultSpecID     *int              `json:"default-spec-id"`
	PartitionSpecs    []specJSON        `json:"partition-specs"`
	Properties        map[string]string `json:"properties"`
	Refs              map[string]struct {
		SnapshotID int64  `json:"snapshot-id"`
		Type       string `json:"type"`
	} `json:"refs"`
}

type snapshotJSON struct {
	SnapshotID       *int64            `json:"snapshot-id"`
	ParentSnapshotID *int64            `json:"parent-snapshot-id"`
	SequenceNumber   int64             `json:"sequence-number"`
	TimestampMs      int64             `json:"timestamp-ms"`
	ManifestList     string            `json:"manifest-list"`
	Summary          map[string]string `json:"summary"`
}

type schemaJSON struct {
	SchemaID int         `json:"schema-id"`
	Fields   []fieldJSON `json:"fields"`
}

type fieldJSON struct {
	ID       int             `json:"id"`
	Name     string          `json:"name"`
	Required bool            `json:"required"`
	Type     json.RawMessage `json:"type"`
}

// nestedJSON is a struct, list or map type.
type nestedJSON struct {
	Type            string          `json:"type"`
	Fields          []fieldJSON     `json:"fields"`
	ElementID       int             `json:"element-id"`
	Element         json.RawMessage `json:"element"`
	ElementRequired bool            `json:"element-required"`
	KeyID           int             `json:"key-id"`
	Key             json.RawMessage `json:"key"`
	ValueID         int             `json:"value-id"`
	Value           json.RawMessage `json:"value"`
	ValueRequired   bool            `json:"value-required"`
}

type specJSON struct {
	SpecID int `json:"spec-id"`
	Fields []struct {
		SourceID  *int   `json:"source-id"`
		SourceIDs []int  `json:"source-ids"`
		FieldID   int    `json:"field-id"`
		Name      string `json:"name"`
		Transform string `json:"transform"`
	} `json:"fields"`
}

// Load reads the metadata file at metadataLocation and, when the table has
// a current snapshot, its manifest list and manifests, and returns the
// table's current state. Every file is fetched with read. An error names
// the file it concerns and what is wrong with it.
func Load(ctx context.Context, read ReadFunc, metadataLocation string) (*Table, error) {
	raw, err := read(ctx, metadataLocation)
	if err != nil {
		return nil, fmt.Errorf("icebergread: read metadata %s: %w", metadataLocation, err)
	}
	var md metadata
	if err := json.Unmarshal(raw, &md); err != nil {
		return nil, fmt.Errorf("icebergread: metadata %s: not valid JSON: %w", metadataLocation, err)
	}
	t, err := fromMetadata(&md)
	if err != nil {
		return nil, fmt.Errorf("icebergread: metadata %s: %w", metadataLocation, err)
	}
	if t.CurrentSnapshot == nil {
		return t, nil
	}
	files, err := liveFiles(ctx, read, t.CurrentSnapshot.ManifestList)
	if err != nil {
		return nil, err
	}
	t.Files = files
	return t, nil
}

// fromMetadata checks the parsed metadata and turns it into a Table
// without files.
func fromMetadata(md *metadata) (*Table, error) {
	if md.FormatVersion == nil {
		return nil, errors.New("no format-version")
	}
	if v := *md.FormatVersion; v != 1 && v != 2 {
		return nil, fmt.Errorf("format-version %d: only 1 and 2 are read", v)
	}
	t := &Table{
		FormatVersion: *md.FormatVersion,
		Location:      md.Location,
		Properties:    md.Properties,
	}
	if t.Properties == nil {
		t.Properties = map[string]string{}
	}

	for i, s := range md.Snapshots {
		if s.SnapshotID == nil {
			return nil, fmt.Errorf("snapshot %d of the list has no snapshot-id", i)
		}
		if s.ManifestList == "" {
			return nil, fmt.Errorf("snapshot %d has no manifest-list", *s.SnapshotID)
		}
		summary := s.Summary
		if summary == nil {
			summary = map[string]string{}
		}
		t.Snapshots = append(t.Snapshots, Snapshot{
			ID:             *s.SnapshotID,
			ParentID:       s.ParentSnapshotID,
			SequenceNumber: s.SequenceNumber,
			TimestampMs:    s.TimestampMs,
			Operation:      summary["operation"],
			Summary:        summary,
			ManifestList:   s.ManifestList,
		})
	}

	// The current snapshot: current-snapshot-id, where null and -1 both
	// mean none; the main branch ref, when present, must agree.
	current := int64(-1)
	if md.CurrentSnapshotID != nil {
		current = *md.CurrentSnapshotID
	}
	if main, ok := md.Refs["main"]; ok {
		if current == -1 {
			current = main.SnapshotID
		} else if main.SnapshotID != current {
			return nil, fmt.Errorf("current-snapshot-id %d but refs.main is snapshot %d", current, main.SnapshotID)
		}
	}
	if current != -1 {
		for i := range t.Snapshots {
			if t.Snapshots[i].ID == current {
				t.CurrentSnapshot = &t.Snapshots[i]
				break
			}
		}
		if t.CurrentSnapshot == nil {
			return nil, fmt.Errorf("current snapshot %d is not in the snapshots list", current)
		}
	}

	schema, err := currentSchema(md)
	if err != nil {
		return nil, err
	}
	if t.SchemaFields, err = flatten(nil, "", schema.Fields); err != nil {
		return nil, fmt.Errorf("schema %d: %w", schema.SchemaID, err)
	}

	if len(md.PartitionSpecs) > 0 {
		specID := 0
		if md.DefaultSpecID != nil {
			specID = *md.DefaultSpecID
		}
		var spec *specJSON
		for i := range md.PartitionSpecs {
			if md.PartitionSpecs[i].SpecID == specID {
				spec = &md.PartitionSpecs[i]
			}
		}
		if spec == nil {
			return nil, fmt.Errorf("default-spec-id %d is not in partition-specs", specID)
		}
		for _, f := range spec.Fields {
			pf := PartitionField{FieldID: f.FieldID, Name: f.Name, Transform: f.Transform}
			switch {
			case f.SourceID != nil:
				pf.SourceID = *f.SourceID
			case len(f.SourceIDs) > 0:
				pf.SourceID = f.SourceIDs[0]
			default:
				return nil, fmt.Errorf("partition field %q has no source-id", f.Name)
			}
			t.PartitionFields = append(t.PartitionFields, pf)
		}
	}
	return t, nil
}

// currentSchema picks the schema current-schema-id names (v2), or the
// single schema of a v1 file that has no schemas list.
func currentSchema(md *metadata) (*schemaJSON, error) {
	if len(md.Schemas) == 0 {
		if md.Schema != nil {
			return md.Schema, nil
		}
		return nil, errors.New("no schemas")
	}
	if md.CurrentSchemaID == nil {
		if len(md.Schemas) == 1 {
			return &md.Schemas[0], nil
		}
		return nil, errors.New("no current-schema-id")
	}
	for i := range md.Schemas {
		if md.Schemas[i].SchemaID == *md.CurrentSchemaID {
			return &md.Schemas[i], nil
		}
	}
	return nil, fmt.Errorf("current-schema-id %d is not in schemas", *md.CurrentSchemaID)
}

// flatten appends fields and, after each, its nested fields, to out.
func flatten(out []Field, prefix string, fields []fieldJSON) ([]Field, error) {
	for _, f := range fields {
		var err error
		if out, err = flattenType(out, prefix+f.Name, f.ID, f.Required, f.Type); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// flattenType appends the field named name of type typ and whatever it nests.
func flattenType(out []Field, name string, id int, required bool, typ json.RawMessage) ([]Field, error) {
	var prim string
	if err := json.Unmarshal(typ, &prim); err == nil {
		return append(out, Field{ID: id, Name: name, Type: prim, Required: required}), nil
	}
	var n nestedJSON
	if err := json.Unmarshal(typ, &n); err != nil {
		return nil, fmt.Errorf("field %q (id %d): type is neither a name nor an object: %w", name, id, err)
	}
	out = append(out, Field{ID: id, Name: name, Type: n.Type, Required: required})
	var err error
	switch n.Type {
	case "struct":
		return flatten(out, name+".", n.Fields)
	case "list":
		return flattenType(out, name+".element", n.ElementID, n.ElementRequired, n.Element)
	case "map":
		if out, err = flattenType(out, name+".key", n.KeyID, true, n.Key); err != nil {
			return nil, err
		}
		return flattenType(out, name+".value", n.ValueID, n.ValueRequired, n.Value)
	default:
		return nil, fmt.Errorf("field %q (id %d): unknown nested type %q", name, id, n.Type)
	}
}

// liveFiles reads the manifest list at uri and every data manifest it
// names, and returns the entries that are not deleted, sorted by path.
func liveFiles(ctx context.Context, read ReadFunc, uri string) ([]DataFile, error) {
	manifests, _, err := readOCF(ctx, read, "manifest list", uri)
	if err != nil {
		return nil, err
	}
	var files []DataFile
	seen := map[string]string{} // path → manifest that listed it
	for i, m := range manifests {
		path, ok := m["manifest_path"].(string)
		if !ok || path == "" {
			return nil, fmt.Errorf("icebergread: manifest list %s: entry %d has no manifest_path", uri, i)
		}
		// content is absent in v1 lists, where every manifest holds data.
		if c, ok := m["content"]; ok && c != nil {
			if n, _ := asInt64(c); n != 0 {
				return nil, fmt.Errorf("icebergread: manifest list %s: manifest %s holds deletes (content %d), which this reader does not apply", uri, path, n)
			}
		}
		entries, root, err := readOCF(ctx, read, "manifest", path)
		if err != nil {
			return nil, err
		}
		logical := partitionLogicalTypes(root)
		for j, e := range entries {
			df, live, err := dataFile(e, logical)
			if err != nil {
				return nil, fmt.Errorf("icebergread: manifest %s: entry %d: %w", path, j, err)
			}
			if !live {
				continue
			}
			if prev, dup := seen[df.Path]; dup {
				return nil, fmt.Errorf("icebergread: manifest %s: live file %s is also live in manifest %s", path, df.Path, prev)
			}
			seen[df.Path] = path
			files = append(files, df)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// readOCF reads the Avro object container file at uri and decodes every
// record into a map. what names the file's role in errors.
func readOCF(ctx context.Context, read ReadFunc, what, uri string) ([]map[string]any, *avro.SchemaNode, error) {
	raw, err := read(ctx, uri)
	if err != nil {
		return nil, nil, fmt.Errorf("icebergread: read %s %s: %w", what, uri, err)
	}
	r, err := ocf.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("icebergread: %s %s: not an Avro object container file: %w", what, uri, err)
	}
	defer r.Close()
	var out []map[string]any
	for {
		var rec map[string]any
		err := r.Decode(&rec)
		if errors.Is(err, io.EOF) {
			return out, r.Schema().Root(), nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("icebergread: %s %s: record %d: %w", what, uri, len(out), err)
		}
		out = append(out, rec)
	}
}

// dataFile turns one decoded manifest entry into a DataFile, and says
// whether the entry is live (status 0 existing or 1 added, not 2 deleted).
// logical gives the Avro logical type of each partition field.
func dataFile(e map[string]any, logical map[string]string) (DataFile, bool, error) {
	status, ok := asInt64(e["status"])
	if !ok {
		return DataFile{}, false, fmt.Errorf("status is %T, not an int", e["status"])
	}
	switch status {
	case 0, 1:
	case 2:
		return DataFile{}, false, nil
	default:
		return DataFile{}, false, fmt.Errorf("status %d is not 0, 1 or 2", status)
	}
	d, ok := e["data_file"].(map[string]any)
	if !ok {
		return DataFile{}, false, fmt.Errorf("data_file is %T, not a record", e["data_file"])
	}
	if c, ok := d["content"]; ok && c != nil {
		if n, _ := asInt64(c); n != 0 {
			return DataFile{}, false, fmt.Errorf("data_file content %d in a data manifest", n)
		}
	}
	df := DataFile{Status: int(status)}
	if v, ok := asInt64(e["snapshot_id"]); ok {
		df.SnapshotID = &v
	}
	if df.Path, ok = d["file_path"].(string); !ok || df.Path == "" {
		return DataFile{}, false, errors.New("data_file has no file_path")
	}
	if df.Format, ok = d["file_format"].(string); !ok {
		return DataFile{}, false, fmt.Errorf("data file %s: no file_format", df.Path)
	}
	if df.Records, ok = asInt64(d["record_count"]); !ok {
		return DataFile{}, false, fmt.Errorf("data file %s: no record_count", df.Path)
	}
	if df.SizeBytes, ok = asInt64(d["file_size_in_bytes"]); !ok {
		return DataFile{}, false, fmt.Errorf("data file %s: no file_size_in_bytes", df.Path)
	}
	df.Partition = map[string]any{}
	if p, ok := d["partition"].(map[string]any); ok {
		for k, v := range p {
			pv, err := partitionValue(v, logical[k])
			if err != nil {
				return DataFile{}, false, fmt.Errorf("data file %s: partition %s: %w", df.Path, k, err)
			}
			df.Partition[k] = pv
		}
	}
	var err error
	if df.ValueCounts, err = countMap(d["value_counts"]); err != nil {
		return DataFile{}, false, fmt.Errorf("data file %s: value_counts: %w", df.Path, err)
	}
	if df.NullCounts, err = countMap(d["null_value_counts"]); err != nil {
		return DataFile{}, false, fmt.Errorf("data file %s: null_value_counts: %w", df.Path, err)
	}
	if df.LowerBounds, err = boundMap(d["lower_bounds"]); err != nil {
		return DataFile{}, false, fmt.Errorf("data file %s: lower_bounds: %w", df.Path, err)
	}
	if df.UpperBounds, err = boundMap(d["upper_bounds"]); err != nil {
		return DataFile{}, false, fmt.Errorf("data file %s: upper_bounds: %w", df.Path, err)
	}
	return df, true, nil
}

// partitionLogicalTypes returns, for each field of the manifest's
// data_file.partition record, the Avro logical type its writer schema
// declares ("date", "timestamp-micros", ... or "" for none).
func partitionLogicalTypes(root *avro.SchemaNode) map[string]string {
	out := map[string]string{}
	dataFile := fieldType(root, "data_file")
	if dataFile == nil {
		return out
	}
	part := fieldType(dataFile, "partition")
	if part == nil {
		return out
	}
	for _, f := range part.Fields {
		t := f.Type
		for _, b := range t.Branches { // an optional value is a union with null
			if b.Type != "null" {
				t = b
			}
		}
		out[f.Name] = t.LogicalType
	}
	return out
}

// fieldType returns the type of the record field name, nil if none.
func fieldType(rec *avro.SchemaNode, name string) *avro.SchemaNode {
	for i := range rec.Fields {
		if rec.Fields[i].Name == name {
			return &rec.Fields[i].Type
		}
	}
	return nil
}

// partitionValue brings a decoded partition value to Iceberg's own
// representation: the Avro decoder turns the date and timestamp logical
// types into time.Time, which Iceberg stores as days and microseconds.
func partitionValue(v any, logical string) (any, error) {
	t, ok := v.(time.Time)
	if !ok {
		return v, nil
	}
	switch logical {
	case "date":
		return int32(t.Unix() / 86400), nil
	case "timestamp-micros", "local-timestamp-micros":
		return t.UnixMicro(), nil
	case "timestamp-nanos", "local-timestamp-nanos":
		return t.UnixNano(), nil
	case "timestamp-millis", "local-timestamp-millis":
		return t.UnixMilli(), nil
	}
	return nil, fmt.Errorf("time value for logical type %q", logical)
}

// kvPairs reads an Iceberg map as Avro encodes it: an array of records with
// a key and a value (optional, so possibly null).
func kvPairs(v any) ([]map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("is %T, not an array of key/value records", v)
	}
	out := make([]map[string]any, len(arr))
	for i, x := range arr {
		kv, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d is %T, not a key/value record", i, x)
		}
		out[i] = kv
	}
	return out, nil
}

// countMap decodes a field id → long map.
func countMap(v any) (map[int]int64, error) {
	kvs, err := kvPairs(v)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(kvs))
	for _, kv := range kvs {
		k, ok1 := asInt64(kv["key"])
		n, ok2 := asInt64(kv["value"])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %v is not an int key with a long value", kv)
		}
		out[int(k)] = n
	}
	return out, nil
}

// boundMap decodes a field id → bytes map.
func boundMap(v any) (map[int][]byte, error) {
	kvs, err := kvPairs(v)
	if err != nil {
		return nil, err
	}
	out := make(map[int][]byte, len(kvs))
	for _, kv := range kvs {
		k, ok1 := asInt64(kv["key"])
		b, ok2 := kv["value"].([]byte)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %v is not an int key with a bytes value", kv)
		}
		out[int(k)] = b
	}
	return out, nil
}

// asInt64 reads an Avro int or long decoded into any.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// TimestampMicros decodes a timestamp or timestamptz bound: Iceberg's
// single-value serialization is 8 bytes, little-endian, microseconds since
// the epoch. The result is in UTC.
func TimestampMicros(b []byte) (time.Time, error) {
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("icebergread: timestamp bound is %d bytes, want 8", len(b))
	}
	return time.UnixMicro(int64(binary.LittleEndian.Uint64(b))).UTC(), nil
}

// LocalRead is a ReadFunc for local files: uri is a file:// URI
// (file:///abs/path, file://localhost/abs/path or file:/abs/path) or a plain
// path. The path is taken literally, not percent-decoded, as Iceberg writers
// put local paths in their URIs as they are.
func LocalRead(ctx context.Context, uri string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := uri
	if rest, ok := strings.CutPrefix(uri, "file:"); ok {
		if host, ok := strings.CutPrefix(rest, "//"); ok {
			i := strings.IndexByte(host, '/')
			if i < 0 || (i > 0 && host[:i] != "localhost") {
				return nil, fmt.Errorf("icebergread: %s: not a local file URI", uri)
			}
			rest = host[i:]
		}
		path = rest
	} else if strings.Contains(uri, "://") {
		return nil, fmt.Errorf("icebergread: %s: LocalRead reads file:// URIs and paths only", uri)
	}
	return os.ReadFile(path)
}
