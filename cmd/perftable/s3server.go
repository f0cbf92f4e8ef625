package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/storage"
)

// versitygwVersion is the S3 server the tests use (scripts/test.sh).
const versitygwVersion = "v1.8.0"

// server is the S3-compatible server on 127.0.0.1.
type server struct {
	endpoint, access, secret string
	cmd                      *exec.Cmd
	dir                      string
}

func (s *server) env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.access, "AWS_SECRET_ACCESS_KEY=" + s.secret, "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_S3=" + s.endpoint, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

func (s *server) stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		os.RemoveAll(s.dir)
	}
}

// s3Server returns the server scripts/test.sh started, if its variables are set, else
// starts versitygw (installed with go install into the same cache test.sh uses).
func s3Server(ctx context.Context, work string) (*server, error) {
	if ep := os.Getenv("MARKETRAIL_TEST_S3_ENDPOINT"); ep != "" {
		return &server{endpoint: ep, access: os.Getenv("MARKETRAIL_TEST_S3_ACCESS_KEY"), secret: os.Getenv("MARKETRAIL_TEST_S3_SECRET_KEY")}, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "marketrail", "bin", "versitygw-"+versitygwVersion)
	if _, err := os.Stat(bin); err != nil {
		logf("installing versitygw %s (go install; about a minute the first time)", versitygwVersion)
		tmp := filepath.Join(cache, "marketrail", "tmpbin")
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("install versitygw: %v\n%s", err, out)
		}
		os.MkdirAll(filepath.Dir(bin), 0o755)
		if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(work, "s3-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &server{endpoint: "http://" + addr, access: "perftable", secret: "perftablesecret", dir: dir}
	s.cmd = exec.Command(bin, "--access", s.access, "--secret", s.secret, "--port", addr, "posix", dir)
	var logb bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logb, &logb
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 { // versitygw answers 403 on / once it is ready
		if resp, err := http.Get(s.endpoint + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				logf("versitygw on %s", s.endpoint)
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("versitygw did not start:\n%s", logb.String())
}

// putDir uploads the files under dir to bucket, under prefix, 16 at a time.
func putDir(ctx context.Context, client *s3.Client, dir, bucket, prefix string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		g.Go(func() error {
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = client.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + filepath.ToSlash(rel)), Body: bytes.NewReader(body)})
			return err
		})
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	return err
}

// upload copies the archive under dir into a new bucket and returns the bucket's name.
func (s *server) upload(ctx context.Context, dir string) (string, error) {
	for _, kv := range s.env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	client, err := storage.NewS3Client(ctx, storage.S3Options{})
	if err != nil {
		return "", err
	}
	var b [6]byte
	rand.Read(b[:])
	bucket := "perftable-" + hex.EncodeToString(b[:])
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return "", err
	}
	logf("uploading %s to s3://%s", dir, bucket)
	err = putDir(ctx, client, dir, bucket, "")
	return bucket, err
}
