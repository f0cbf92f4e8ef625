package lake_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/trail"
)

// dictColumns are the columns the row types ask parquet-go to dictionary-encode, written out
// by hand (DuckDB's path_in_schema spelling) so that a tag added or lost shows here.
var dictColumns = map[string][]string{
	marketplace.TableEvents: {
		"event_version", "event_source", "event_name", "aws_region",
		"source_ip_address", "user_agent", "error_code", "recipient_account_id",
		"user_identity, type", "user_identity, arn", "user_identity, account_id", "user_identity, user_name",
		"user_identity, invoked_by", "user_identity, identity_provider",
		"user_identity, session_context, session_issuer, principal_id",
		"user_identity, session_context, session_issuer, arn", "user_identity, session_context, session_issuer, account_id",
		"user_identity, session_context, session_issuer, user_name",
		"user_identity, session_context, web_id_federation_data, federated_provider",
		"resources, list, element, account_id", "resources, list, element, type",
		"tls_details, tls_version", "tls_details, cipher_suite", "tls_details, client_provided_host_header",
		"product_code", "license_arn", "source_key", "source_digest",
	},
	marketplace.TableMetering: {
		"event_name", "aws_region", "seller_account_id", "caller_arn", "product_code", "customer_identifier",
		"customer_aws_account_id", "license_arn", "dimension", "status", "error_code",
		"usage_allocations, list, element, tags, list, element, key", "usage_allocations, list, element, tags, list, element, value",
		"source_key", "source_digest",
	},
}

// fullRecord is a BatchMeterUsage call with every element of the events table logged.
func fullRecord(id, agent string) string {
	return `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::111122223333:assumed-role/saas/s",` +
		`"accountId":"111122223333","accessKeyId":"ASIA1","userName":"u","invokedBy":"ecs.amazonaws.com","identityProvider":"idp",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::111122223333:role/saas","accountId":"111122223333","userName":"saas"},` +
		`"webIdFederationData":{"federatedProvider":"oidc","attributes":{"a":1}},"attributes":{"creationDate":"2024-03-01T09:00:00Z","mfaAuthenticated":"false"},` +
		`"sourceIdentity":"si","ec2RoleDelivery":"2.0"},"onBehalfOf":{"userId":"uid","identityStoreArn":"isa"}},` +
		`"eventTime":"2024-03-01T10:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"10.0.0.1","userAgent":"` + agent + `","errorCode":"ThrottlingException","errorMessage":"slow down",` +
		`"requestParameters":{"productCode":"pc-1","usageRecords":[{"dimension":"Users","quantity":3,"customerIdentifier":"cust-1","customerAWSAccountId":"444455556666","timestamp":"Mar 1, 2024 9:00:00 AM",` +
		`"usageAllocations":[{"allocatedUsageQuantity":3,"tags":[{"key":"team","value":"red"}]}]}]},` +
		`"responseElements":null,"requestID":"r-` + id + `","eventID":"` + id + `","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,` +
		`"recipientAccountId":"111122223333","sharedEventID":"sh","apiVersion":"v1","vpcEndpointId":"vpce-1","eventCategory":"Management",` +
		`"resources":[{"ARN":"arn:r","accountId":"111122223333","type":"AWS::X::Y"}],` +
		`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"metering.marketplace.us-east-1.amazonaws.com"},` +
		`"additionalEventData":{"x":1},"serviceEventDetails":{"y":2}}`
}

// TestDictionaryColumns writes events through the lake writer and reads the files back with
// DuckDB: the dictionary columns (and only they) have dictionary-encoded pages, and every
// column, read through its dictionary or not, holds what was logged.
func TestDictionaryColumns(t *testing.T) {
	dir := publishRecords(t, []string{fullRecord("e1", "agent/1"), fullRecord("e2", "agent/1"), fullRecord("e3", "agent/2")})
	db := duckcheck.Open(t)
	for table, want := range dictColumns {
		rows := duckcheck.Strings(t, db, `SELECT path_in_schema, encodings FROM parquet_metadata('`+dir+`/`+table+`/*/*.parquet') ORDER BY column_id`)
		var got []string
		for _, r := range rows {
			if strings.Contains(r[1], "RLE_DICTIONARY") || strings.Contains(r[1], "PLAIN_DICTIONARY") {
				got = append(got, r[0])
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			t.Errorf("%s: dictionary-encoded columns\n got %q\nwant %q", table, got, w)
		}
	}

	// Every leaf of events, as text, for the last row (the others differ only in id and agent).
	got := duckcheck.Strings(t, db, `SELECT event_id, event_time, event_version, event_source, event_name, event_type, event_category, aws_region,
		source_ip_address, user_agent, error_code, error_message, request_id, read_only, management_event, recipient_account_id,
		shared_event_id, api_version, vpc_endpoint_id, request_parameters IS NOT NULL, response_elements, additional_event_data, service_event_details,
		user_identity.type, user_identity.principal_id, user_identity.arn, user_identity.account_id, user_identity.access_key_id,
		user_identity.user_name, user_identity.invoked_by, user_identity.identity_provider,
		user_identity.session_context.attributes.creation_date, user_identity.session_context.attributes.mfa_authenticated,
		user_identity.session_context.session_issuer.type, user_identity.session_context.session_issuer.principal_id,
		user_identity.session_context.session_issuer.arn, user_identity.session_context.session_issuer.account_id,
		user_identity.session_context.session_issuer.user_name,
		user_identity.session_context.web_id_federation_data.federated_provider, user_identity.session_context.web_id_federation_data.attributes,
		user_identity.session_context.source_identity, user_identity.session_context.ec2_role_delivery,
		user_identity.on_behalf_of.user_id, user_identity.on_behalf_of.identity_store_arn,
		resources[1].arn, resources[1].account_id, resources[1].type,
		tls_details.tls_version, tls_details.cipher_suite, tls_details.client_provided_host_header,
		product_code, customer_identifier, customer_aws_account_id, agreement_id, source_key, source_digest
		FROM `+duckcheck.Table(dir, marketplace.TableEvents)+` ORDER BY event_id`)
	if len(got) != 3 || got[0][9] != "agent/1" || got[1][9] != "agent/1" {
		t.Fatalf("events: %q", got)
	}
	want := []string{"e3", "2024-03-01T10:00:00Z", "1.09", "metering-marketplace.amazonaws.com", "BatchMeterUsage", "AwsApiCall", "Management", "us-east-1",
		"10.0.0.1", "agent/2", "ThrottlingException", "slow down", "r-e3", "false", "true", "111122223333",
		"sh", "v1", "vpce-1", "true", "NULL", `{"x":1}`, `{"y":2}`,
		"AssumedRole", "AROA:s", "arn:aws:sts::111122223333:assumed-role/saas/s", "111122223333", "ASIA1",
		"u", "ecs.amazonaws.com", "idp",
		"2024-03-01T09:00:00Z", "false",
		"Role", "AROA", "arn:aws:iam::111122223333:role/saas", "111122223333", "saas",
		"oidc", `{"a":1}`, "si", "2.0", "uid", "isa",
		"arn:r", "111122223333", "AWS::X::Y",
		"TLSv1.3", "TLS_AES_128_GCM_SHA256", "metering.marketplace.us-east-1.amazonaws.com",
		"pc-1", "NULL", "NULL", "NULL", "AWSLogs/f.json.gz", "NULL"}
	if !slices.Equal(got[2], want) {
		t.Errorf("events row:\n got %q\nwant %q", got[2], want)
	}

	got = duckcheck.Strings(t, db, `SELECT event_id, event_name, aws_region, seller_account_id, caller_arn, product_code, customer_identifier,
		customer_aws_account_id, dimension, quantity, usage_time, status, metering_record_id,
		usage_allocations[1].allocated_usage_quantity, usage_allocations[1].tags[1].key, usage_allocations[1].tags[1].value,
		dry_run, error_code, source_key, source_digest
		FROM `+duckcheck.Table(dir, marketplace.TableMetering)+` ORDER BY event_id`)
	wantRow := func(id string) []string {
		return []string{id, "BatchMeterUsage", "us-east-1", "111122223333", "arn:aws:sts::111122223333:assumed-role/saas/s", "pc-1", "cust-1",
			"444455556666", "Users", "3", "2024-03-01T09:00:00Z", "Failed", "NULL",
			"3", "team", "red", "NULL", "ThrottlingException", "AWSLogs/f.json.gz", "NULL"}
	}
	if len(got) != 3 || !slices.Equal(got[0], wantRow("e1")) || !slices.Equal(got[2], wantRow("e3")) {
		t.Errorf("metering_records:\n got %q\nwant rows like %q", got, wantRow("e1"))
	}
}

// agentRow is a row with one dictionary column, for TestDictionaryFallback.
type agentRow struct {
	ID    int64  `parquet:"id"`
	Agent string `parquet:"agent,dict"`
}

// TestDictionaryFallback: a dictionary column of many distinct values outgrows
// lake.DictionaryMaxBytes; its later pages are written plain, and DuckDB reads every value
// of the mixed column chunk.
func TestDictionaryFallback(t *testing.T) {
	const n = 200_000
	agent := func(i int) string {
		return fmt.Sprintf("aws-sdk-go-v2/1.30.%06d os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/marketplacemetering#1.%06d", i, i)
	}
	rows := make([]agentRow, n)
	for i := range rows {
		rows[i] = agentRow{ID: int64(i), Agent: agent(i)} // 200,000 distinct agents: 24 MB of text
	}
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
	_, err := w.PublishDay(context.Background(), dayOf("2024-03-01"), nil, true,
		lake.NewTable("agents", rows, func(*agentRow) trail.Day { return dayOf("2024-03-01") },
			func(a, b *agentRow) int { return cmp.Compare(a.ID, b.ID) }, "id"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agents", "event_date=2024-03-01", "2024-03-01.parquet")
	dictPages, plainPages := pageKinds(t, path, "agent")
	if dictPages == 0 || plainPages == 0 {
		t.Errorf("agent: %d dictionary-encoded and %d plain data pages; want both (the fallback)", dictPages, plainPages)
	}
	// Readers that prune row groups by their dictionary (Trino, and so Athena) may do so only
	// when every data page is dictionary-encoded, which they learn from the column chunk's
	// encoding_stats: those must count the plain pages too.
	if got, want := dataPageEncodings(t, path, "agent"), map[string]int{"RLE_DICTIONARY": dictPages, "PLAIN": plainPages}; !maps.Equal(got, want) {
		t.Errorf("agent: encoding_stats of the data pages %v, want %v", got, want)
	}
	db := duckcheck.Open(t)
	got := duckcheck.Strings(t, db, `SELECT count(*), count(DISTINCT agent),
		count(*) FILTER (WHERE agent = format('aws-sdk-go-v2/1.30.{:06d} os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/marketplacemetering#1.{:06d}', id, id)),
		max(agent) FROM `+duckcheck.Table(dir, "agents"))
	want := []string{"200000", "200000", "200000", agent(n - 1)}
	if !slices.Equal(got[0], want) {
		t.Errorf("agent read back: got %q, want %q", got[0], want)
	}
}

// dataPageEncodings returns what the footer's encoding_stats of column (in the one row
// group of the file at path) say of its data pages: how many use each encoding.
func dataPageEncodings(t *testing.T, path, column string) map[string]int {
	t.Helper()
	f := openParquet(t, path)
	leaf, ok := f.Schema().Lookup(column)
	if !ok {
		t.Fatalf("no column %s", column)
	}
	rgs := f.Metadata().RowGroups
	if len(rgs) != 1 {
		t.Fatalf("%d row groups, want 1", len(rgs))
	}
	out := map[string]int{}
	for _, st := range rgs[0].Columns[leaf.ColumnIndex].MetaData.EncodingStats {
		if st.PageType == format.DataPage || st.PageType == format.DataPageV2 {
			out[st.Encoding.String()] += int(st.Count)
		}
	}
	return out
}

// openParquet opens the Parquet file at path with parquet-go; it is closed when the test ends.
func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pageKinds counts the data pages of column in the Parquet file at path that are
// dictionary-encoded and those that are not.
func pageKinds(t *testing.T, path, column string) (dict, plain int) {
	t.Helper()
	f := openParquet(t, path)
	leaf, ok := f.Schema().Lookup(column)
	if !ok {
		t.Fatalf("no column %s", column)
	}
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Dictionary() != nil {
				dict++
			} else {
				plain++
			}
			parquet.Release(p)
		}
		pages.Close()
	}
	return dict, plain
}
