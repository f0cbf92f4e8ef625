package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/duckcheck"
)

// ddlColumns parses the CREATE EXTERNAL TABLE statements printed by 'marketrail ddl' into
// table → ordered "name type" columns.
func ddlColumns(t *testing.T, ddl string) map[string][]string {
	t.Helper()
	tables := map[string][]string{}
	var table string
	head := regexp.MustCompile("^CREATE EXTERNAL TABLE IF NOT EXISTS (?:`[^`]+`\\.)?`([a-z_]+)` \\($")
	col := regexp.MustCompile("^  `([^`]+)` (.+?) COMMENT '.*',?$")
	for _, line := range strings.Split(ddl, "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		if m := col.FindStringSubmatch(line); m != nil && table != "" {
			tables[table] = append(tables[table], m[1]+" "+m[2])
			continue
		}
		if strings.HasPrefix(line, ")") {
			table = ""
		}
	}
	if len(tables) == 0 {
		t.Fatalf("no tables in the DDL:\n%s", ddl)
	}
	return tables
}

// hiveOf converts a DuckDB type name, as DESCRIBE prints it, to the Hive DDL type Athena
// would use for it. It is written from DuckDB's type syntax, independently of marketrail's
// own type mapping.
func hiveOf(duck string) (string, error) {
	p := &typeParser{s: duck}
	t, err := p.parse()
	if err == nil && p.i != len(p.s) {
		err = fmt.Errorf("trailing %q", p.s[p.i:])
	}
	return t, err
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) parse() (string, error) {
	var base string
	switch {
	case strings.HasPrefix(p.s[p.i:], "STRUCT("):
		p.i += len("STRUCT(")
		var fields []string
		for {
			name := p.name()
			if p.i >= len(p.s) || p.s[p.i] != ' ' {
				return "", fmt.Errorf("bad struct field at %q", p.s[p.i:])
			}
			p.i++
			ft, err := p.parse()
			if err != nil {
				return "", err
			}
			fields = append(fields, name+":"+ft)
			if strings.HasPrefix(p.s[p.i:], ", ") {
				p.i += 2
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ')' {
				p.i++
				break
			}
			return "", fmt.Errorf("bad struct at %q", p.s[p.i:])
		}
		base = "struct<" + strings.Join(fields, ",") + ">"
	default:
		scalars := []struct{ duck, hive string }{
			{"TIMESTAMP WITH TIME ZONE", "timestamp"}, {"VARCHAR", "string"}, {"BOOLEAN", "boolean"},
			{"BIGINT", "bigint"}, {"INTEGER", "int"}, {"SMALLINT", "smallint"}, {"TINYINT", "tinyint"},
			{"DOUBLE", "double"}, {"FLOAT", "float"}, {"DATE", "date"}, {"BLOB", "binary"},
		}
		for _, s := range scalars {
			if strings.HasPrefix(p.s[p.i:], s.duck) {
				base, p.i = s.hive, p.i+len(s.duck)
				break
			}
		}
		if base == "" {
			return "", fmt.Errorf("type %q has no Athena equivalent in marketrail's policy", p.s[p.i:])
		}
	}
	for strings.HasPrefix(p.s[p.i:], "[]") {
		p.i += 2
		base = "array<" + base + ">"
	}
	return base, nil
}

func (p *typeParser) name() string {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		n := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return n
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' {
		p.i++
	}
	return p.s[start:p.i]
}

// TestSchemaMatchesDDLAndPolicy: for every file written from the sample, the columns and
// types DuckDB reads from its footer are exactly the DDL's, and the footer obeys the
// project's type policy.
func TestSchemaMatchesDDLAndPolicy(t *testing.T) {
	m := readManifest(t, sampleManifest)
	dest := t.TempDir()
	if r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	r := marketrail(t, nil, "ddl", "--location", "s3://bucket/lake", "--database", "mkt")
	if r.code != 0 {
		t.Fatalf("ddl: exit %d\n%s", r.code, r.stderr)
	}
	ddl := ddlColumns(t, r.stdout)
	if !strings.Contains(r.stdout, "PARTITIONED BY (event_date string)") || !strings.Contains(r.stdout, "'projection.event_date.type' = 'date'") ||
		!strings.Contains(r.stdout, "'storage.location.template' = 's3://bucket/lake/metering_records/event_date=${event_date}/'") {
		t.Errorf("DDL lacks partition projection:\n%s", r.stdout)
	}
	db := duckcheck.Open(t)
	files := parquetFiles(t, dest)
	seen := map[string]bool{}
	for _, f := range files {
		table := strings.Split(f, "/")[0]
		seen[table] = true
		want, ok := ddl[table]
		if !ok {
			t.Errorf("%s: table %s is not in the DDL", f, table)
			continue
		}
		path := filepath.Join(dest, f)
		var got []string
		for _, row := range duckcheck.Strings(t, db, fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet('%s', hive_partitioning = false)", path)) {
			h, err := hiveOf(row[1])
			if err != nil {
				t.Errorf("%s: column %s: %v", f, row[0], err)
			}
			got = append(got, row[0]+" "+h)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: footer columns differ from the DDL\nfile: %q\nDDL:  %q", f, got, want)
		}
		policy(t, f, path)
	}
	for table := range ddl {
		if !seen[table] {
			t.Errorf("the sample wrote no file of table %s", table)
		}
	}
}

// policy checks one file's footer against the project's type policy: timestamps are INT64
// MILLIS UTC-adjusted (no INT96, NANOS or MICROS), no unsigned or UUID types, no empty
// structs, names lowercase [a-z0-9_] and unique ignoring case among siblings.
func policy(t *testing.T, f, path string) {
	t.Helper()
	d := duckcheck.Open(t)
	rows := duckcheck.Strings(t, d, fmt.Sprintf(`SELECT name, coalesce(type, ''), coalesce(converted_type, ''), coalesce(logical_type::VARCHAR, ''),
		coalesce(num_children, 0)::VARCHAR, coalesce(repetition_type, '') FROM parquet_schema('%s')`, path))
	name := regexp.MustCompile(`^[a-z0-9_]+$`)
	// Walk the flattened schema to check sibling names; the first row is the root.
	type level struct {
		left  int
		names map[string]bool
	}
	stack := []level{}
	for i, r := range rows {
		n, phys, conv, logical, children := r[0], r[1], r[2], r[3], r[4]
		if i > 0 {
			if !name.MatchString(n) {
				t.Errorf("%s: column name %q is not lowercase [a-z0-9_]", f, n)
			}
			top := &stack[len(stack)-1]
			if top.names[strings.ToLower(n)] {
				t.Errorf("%s: column name %q repeats (ignoring case)", f, n)
			}
			top.names[strings.ToLower(n)] = true
			top.left--
		}
		switch {
		case phys == "INT96":
			t.Errorf("%s: %s is INT96", f, n)
		case strings.Contains(logical, "Timestamp") && (!strings.Contains(logical, "isAdjustedToUTC=1") || !strings.Contains(logical, "MILLIS=MilliSeconds()") || phys != "INT64"):
			t.Errorf("%s: %s is %s %s, want INT64 MILLIS UTC-adjusted", f, n, phys, logical)
		case strings.Contains(conv, "TIMESTAMP_MICROS") || strings.HasPrefix(conv, "UINT") || strings.Contains(logical, "isSigned=0"):
			t.Errorf("%s: %s has a forbidden type %s %s", f, n, conv, logical)
		case strings.Contains(strings.ToUpper(logical), "UUID"):
			t.Errorf("%s: %s is a UUID", f, n)
		case phys == "" && children == "0":
			t.Errorf("%s: %s is an empty struct", f, n)
		}
		var nc int
		fmt.Sscan(children, &nc)
		if phys == "" && nc > 0 {
			stack = append(stack, level{nc, map[string]bool{}})
		}
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			stack = stack[:len(stack)-1]
		}
	}
	if len(rows) < 10 {
		t.Errorf("%s: schema has only %d elements", f, len(rows))
	}
}
