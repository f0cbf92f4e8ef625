package source_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// TestListingRequestsAtScale counts, at the real S3 server, the requests that finding the
// trail folders and listing one delivery day of 100 accounts × 17 regions cost: one listing
// of AWSLogs/, one per organization, one per account, one per day folder, and nothing more;
// and checks they are issued concurrently.
func TestListingRequestsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c, srv := s3test.Client(t)
	cfg := gentrail.Large(0)
	cfg.Accounts, cfg.Regions, cfg.Days, cfg.Files, cfg.FilesPerFolder, cfg.RecordsPerFile = 100, 17, 1, 0, 1, 1
	cfg.DigestAccounts, cfg.DigestRegions = 100, 17 // digest folders beside every log folder, never to be listed
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bucket := s3test.Bucket(t, c)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for _, o := range m.Objects {
		g.Go(func() error {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(o.Key)))
			if err != nil {
				return err
			}
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key), Body: bytes.NewReader(b)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// The manifest says what there is: organizations, accounts per layout, log folders.
	orgs, accounts, folders := map[string]bool{}, map[[2]string]bool{}, map[[3]string]bool{}
	var logs int
	var day string
	for _, o := range m.Objects {
		if o.Kind != gentrail.KindLog {
			continue
		}
		logs++
		day = o.DeliveryDay
		if o.OrgID != "" {
			orgs[o.OrgID] = true
		}
		accounts[[2]string{o.OrgID, o.Account}] = true
		folders[[3]string{o.OrgID, o.Account, o.Region}] = true
	}
	if len(accounts) < 100 || len(folders) < 100*17 {
		t.Fatalf("generated %d accounts and %d log folders, want 100 × 17 at least", len(accounts), len(folders))
	}

	pc, proxy := throughProxy(t, srv.Endpoint)
	st := storage.NewS3(pc, bucket, "")
	found, err := source.Discover(context.Background(), st, source.Selection{}, 16)
	if err != nil {
		t.Fatal(err)
	}
	discovery := proxy.Requests.Load()
	d, _ := trail.ParseDay(day)
	var listed int
	if err := source.ListDay(context.Background(), st, found, d, 16, func(o source.Object) error {
		if o.Skip == "" {
			listed++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	total := proxy.Requests.Load()
	wantDiscovery := int64(1 + len(orgs) + len(accounts))
	t.Logf("%d accounts, %d organizations, %d day folders, %d log files: %d discovery requests, %d day listings; at most %d at once",
		len(accounts), len(orgs), len(folders), logs, discovery, total-discovery, proxy.MaxInFlight.Load())
	if len(found) != len(folders) || listed != logs {
		t.Errorf("found %d folders and %d log files, want %d and %d", len(found), listed, len(folders), logs)
	}
	if discovery != wantDiscovery || total-discovery != int64(len(folders)) || proxy.Listings.Load() != total {
		t.Errorf("requests: %d for discovery (want %d) and %d for the day (want %d); %d of %d are listings",
			discovery, wantDiscovery, total-discovery, len(folders), proxy.Listings.Load(), total)
	}
	if proxy.MaxInFlight.Load() < 4 {
		t.Errorf("at most %d requests at once: the listings are not concurrent", proxy.MaxInFlight.Load())
	}
}

// throughProxy returns an S3 client configured as marketrail's (the endpoint from
// AWS_ENDPOINT_URL_S3) whose requests go through a new faultproxy in front of endpoint, to
// be counted there; the proxy closes when the test ends.
func throughProxy(t *testing.T, endpoint string) (*s3.Client, *faultproxy.Proxy) {
	t.Helper()
	proxy, err := faultproxy.New(endpoint, faultproxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", proxy.URL)
	c, err := storage.NewS3Client(context.Background(), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, proxy
}
