package gentrail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Folder kinds under an account, beside each other.
const (
	folderLogs    = "CloudTrail"
	folderDigest  = "CloudTrail-Digest"
	folderInsight = "CloudTrail-Insight"
)

// logFile is one log file to write.
type logFile struct {
	key    string
	org    bool // delivered by the organization trail
	acct   int
	region string
	day    time.Time // delivery day (the date folder)
	at     time.Time // delivery time (in the name)
	gz     bool

	// Filled in when written.
	records, mp, size int
	sha               string
	oldest, newest    time.Time
	copies            []Copy
	decoys            []Decoy
	digestedBy        string // the signed digest that lists it (Config.SignedDigests)
}

// batch is the records of one delivery, written to one log file, or to two (the
// organization trail's and the account trail's) for an account in both trails.
type batch struct {
	seq      int
	acct     int
	region   string
	from, to time.Time // the events' times, for a regular batch
	n        int       // the number of records, for a regular batch
	events   []event   // the records, for a hand-made batch
	files    []*logFile
	// again is the batch of the same folder's last file of the day before, some of whose
	// Marketplace events this batch delivers again first (Config.Redeliveries).
	again *batch
}

// otherObject is a non-log object: an Insights file or a stray object in a day folder.
type otherObject struct {
	key    string
	kind   string
	org    bool
	acct   int
	region string
	day    time.Time
	gz     bool
	data   []byte // uncompressed
	recs   int
	decoys []Decoy
}

type generator struct {
	cfg    Config
	w      *world
	dir    string
	from   string // window, YYYY-MM-DD
	to     string
	plan   []*batch
	others []*otherObject
	keys   map[string]bool

	mpAll, mpRegional       picker
	noiseAll, noiseRegional picker
	decoyAll, decoyRegional picker
	escAll, escRegional     picker
}

// picker draws templates by weight.
type picker struct {
	t       []template
	weights []int
	total   int
}

func newPicker(ts []template, globalOK bool) picker {
	var p picker
	for _, t := range ts {
		if t.weight > 0 && (globalOK || !t.global) {
			p.t = append(p.t, t)
			p.weights = append(p.weights, t.weight)
			p.total += t.weight
		}
	}
	return p
}

func (p *picker) build(c *ctx) event {
	return p.t[weighted(c.r, p.weights, p.total)].build(c)
}

// Generate writes the archive cfg describes under dir, the bucket's root (it makes dir's
// AWSLogs/ folder, which must not exist yet), and returns its manifest. It does not write
// the manifest: write it beside the tree, not inside it, with Manifest.WriteFile.
func Generate(dir string, cfg Config) (*Manifest, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.normalized()
	if _, err := os.Stat(filepath.Join(dir, "AWSLogs")); err == nil {
		return nil, fmt.Errorf("gentrail: %s already exists: generate into a fresh folder", filepath.Join(dir, "AWSLogs"))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	g := &generator{
		cfg:  cfg,
		w:    newWorld(cfg),
		dir:  dir,
		from: cfg.Start.Format(dayLayout),
		to:   cfg.Start.AddDate(0, 0, cfg.Days-1).Format(dayLayout),
		keys: map[string]bool{},
	}
	g.mpAll, g.mpRegional = newPicker(marketplaceTemplates, true), newPicker(marketplaceTemplates, false)
	g.noiseAll, g.noiseRegional = newPicker(noiseTemplates, true), newPicker(noiseTemplates, false)
	g.decoyAll, g.decoyRegional = newPicker(decoyTemplates, true), newPicker(decoyTemplates, false)
	g.escAll, g.escRegional = newPicker(escapedTemplates, true), newPicker(escapedTemplates, false)

	pr := newRNG(cfg.Seed, streamPlan)
	g.planRegular(pr)
	if cfg.Specials {
		if err := g.planSpecials(); err != nil {
			return nil, err
		}
	}
	if err := g.writeBatches(); err != nil {
		return nil, err
	}
	for _, o := range g.others {
		if err := g.writeObject(o.key, o.data, o.gz); err != nil {
			return nil, err
		}
	}
	writeDigests := g.writeDigests
	if cfg.SignedDigests {
		writeDigests = g.writeSignedDigests
	}
	digests, err := writeDigests()
	if err != nil {
		return nil, err
	}
	return g.manifest(digests), nil
}

// prefix is the key of a day folder: AWSLogs/[o-ORGID/]ACCOUNT/KIND/REGION/YYYY/MM/DD/.
func (g *generator) prefix(org bool, acct int, kind, region string, day time.Time) string {
	var b strings.Builder
	b.WriteString("AWSLogs/")
	if org {
		b.WriteString(g.w.orgID + "/")
	}
	b.WriteString(g.w.accounts[acct].id + "/" + kind + "/" + region + "/" + day.Format("2006/01/02") + "/")
	return b.String()
}

// newLogFile names a log file delivered at `at` (its day folder is at's date).
func (g *generator) newLogFile(r *rand.Rand, org bool, acct int, region string, at time.Time, gz bool) *logFile {
	day := at.Truncate(24 * time.Hour)
	ext := ".json.gz"
	if !gz {
		ext = ".json"
	}
	var key string
	for {
		u := make([]byte, 16)
		for i := range u {
			u[i] = mixedChars[r.IntN(len(mixedChars))]
		}
		key = g.prefix(org, acct, folderLogs, region, day) + g.w.accounts[acct].id + "_CloudTrail_" + region + "_" +
			at.Format("20060102T1504Z") + "_" + string(u) + ext
		if !g.keys[key] {
			break
		}
	}
	g.keys[key] = true
	return &logFile{key: key, org: org, acct: acct, region: region, day: day, at: at, gz: gz}
}

// trailFiles returns the files of one delivery at `at`: one per trail of the account. The
// account trail delivers a little after the organization trail, the same day.
func (g *generator) trailFiles(r *rand.Rand, acct int, region string, at time.Time, gz bool) []*logFile {
	a := &g.w.accounts[acct]
	var fs []*logFile
	if a.org {
		fs = append(fs, g.newLogFile(r, true, acct, region, at, gz))
	}
	if a.own {
		t := at
		if a.org {
			t = at.Add(time.Duration(30+r.IntN(150)) * time.Second)
			if t.Truncate(24*time.Hour) != at.Truncate(24*time.Hour) {
				t = at
			}
		}
		fs = append(fs, g.newLogFile(r, false, acct, region, t, gz))
	}
	return fs
}

// planRegular plans the regular log files of the window.
func (g *generator) planRegular(pr *rand.Rand) {
	cfg := g.cfg
	type slot struct {
		acct   int
		region string
		day    time.Time
		n      int
	}
	var slots []slot
	for d := 0; d < cfg.Days; d++ {
		day := cfg.Start.AddDate(0, 0, d)
		for a := range g.w.accounts {
			for _, region := range g.w.regions {
				slots = append(slots, slot{acct: a, region: region, day: day})
			}
		}
	}
	if cfg.Files > 0 {
		total := 0
		for total < cfg.Files {
			for i := range slots {
				if total >= cfg.Files {
					break
				}
				slots[i].n++
				a := &g.w.accounts[slots[i].acct]
				if a.org {
					total++
				}
				if a.own {
					total++
				}
			}
		}
	} else {
		for i := range slots {
			slots[i].n = cfg.FilesPerFolder
		}
	}
	lo := cfg.RecordsPerFile - cfg.RecordsPerFile/4
	hi := cfg.RecordsPerFile + cfg.RecordsPerFile/4
	type folderDay struct {
		acct   int
		region string
		day    time.Time
	}
	last := map[folderDay]*batch{} // each folder's last batch of each day
	for _, s := range slots {
		if s.n == 0 {
			continue
		}
		var before *batch
		if cfg.Redeliveries > 0 {
			before = last[folderDay{s.acct, s.region, s.day.AddDate(0, 0, -1)}]
		}
		interval := 24 * time.Hour / time.Duration(s.n)
		for j := 0; j < s.n; j++ {
			jitter := min(interval/2, 10*time.Minute)
			delta := 10*time.Second + time.Duration(pr.Int64N(int64(jitter)+1))
			at := s.day.Add(time.Duration(j+1)*interval - delta).Truncate(time.Second)
			if at.Before(s.day) {
				at = s.day
			}
			b := &batch{
				seq:    len(g.plan),
				acct:   s.acct,
				region: s.region,
				from:   at.Add(-interval),
				to:     at.Add(-20 * time.Second),
				n:      lo + pr.IntN(hi-lo+1),
			}
			if !b.to.After(b.from) {
				b.to = b.from.Add(time.Second)
			}
			b.files = g.trailFiles(pr, s.acct, s.region, at, true)
			if j == 0 {
				b.again = before
			}
			g.plan = append(g.plan, b)
			last[folderDay{s.acct, s.region, s.day}] = b
		}
	}
}

// makeEvents draws a regular batch's records: first those of the day before's last batch
// that it delivers again, if any, then its own.
func (g *generator) makeEvents(b *batch) []event {
	own := g.ownEvents(b)
	if b.again == nil {
		return own
	}
	r := newRNG(g.cfg.Seed, streamRedeliv+uint64(b.seq))
	var evs []event
	for _, e := range g.ownEvents(b.again) {
		if e.cp != nil && e.id != "" && r.Float64() < g.cfg.Redeliveries {
			e.tags = append(slices.Clip(e.tags), "redelivered")
			evs = append(evs, e)
		}
	}
	return append(evs, own...)
}

// ownEvents draws the records of a regular batch's own time range.
func (g *generator) ownEvents(b *batch) []event {
	r := newRNG(g.cfg.Seed, streamBatch+uint64(b.seq))
	times := make([]time.Time, b.n)
	for i := range times {
		times[i] = between(r, b.from, b.to)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	mp, noise, decoy, esc := &g.mpAll, &g.noiseAll, &g.decoyAll, &g.escAll
	if b.region != homeRegion {
		mp, noise, decoy, esc = &g.mpRegional, &g.noiseRegional, &g.decoyRegional, &g.escRegional
	}
	c := &ctx{r: r, w: g.w, acct: &g.w.accounts[b.acct], region: b.region}
	// Escaped records come from a stream of their own and replace noise records after they
	// are drawn, so that the batch's stream, and so its other records, stay the same.
	var ec *ctx
	if g.cfg.EscapedNoise > 0 {
		ec = &ctx{r: newRNG(g.cfg.Seed, streamEscaped+uint64(b.seq)), w: g.w, acct: c.acct, region: b.region}
	}
	evs := make([]event, 0, b.n)
	for _, t := range times {
		c.t = t
		switch {
		case r.Float64() < g.cfg.MarketplaceRatio:
			evs = append(evs, mp.build(c))
		case r.Float64() < g.cfg.DecoyRatio:
			evs = append(evs, decoy.build(c))
		default:
			e := noise.build(c)
			if ec != nil && ec.r.Float64() < g.cfg.EscapedNoise {
				ec.t = t
				e = esc.build(ec)
			}
			evs = append(evs, e)
		}
	}
	return evs
}

// writeBatches writes every planned batch, on all cores.
func (g *generator) writeBatches() error {
	workers := max(1, runtime.GOMAXPROCS(0))
	jobs := make(chan *batch)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var zbuf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&zbuf, g.gzipLevel())
			var failed error
			for b := range jobs {
				if failed == nil {
					failed = g.writeBatch(b, zw, &zbuf)
				}
			}
			errc <- failed
		}()
	}
	for _, b := range g.plan {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (g *generator) gzipLevel() int {
	if g.cfg.FastGzip {
		return gzip.BestSpeed
	}
	return gzip.DefaultCompression
}

// encodeRecords lays records out as a CloudTrail log file: {"Records":[...]} on one line.
func encodeRecords(evs []event) []byte {
	b := make([]byte, 0, 1200*len(evs)+16)
	b = append(b, `{"Records":[`...)
	for i, e := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(b, e.rec)
	}
	return append(b, "]}"...)
}

func (g *generator) writeBatch(b *batch, zw *gzip.Writer, zbuf *bytes.Buffer) error {
	evs := b.events
	if evs == nil {
		evs = g.makeEvents(b)
	}
	data := encodeRecords(evs)
	sum := sha256.Sum256(data)
	var oldest, newest time.Time
	mp := 0
	for i, e := range evs {
		if i == 0 || e.t.Before(oldest) {
			oldest = e.t
		}
		if i == 0 || e.t.After(newest) {
			newest = e.t
		}
		if e.cp != nil {
			mp++
		}
	}
	for _, f := range b.files {
		if f.gz {
			zbuf.Reset()
			zw.Reset(zbuf)
			if _, err := zw.Write(data); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			if err := g.writeFile(f.key, zbuf.Bytes()); err != nil {
				return err
			}
		} else if err := g.writeFile(f.key, data); err != nil {
			return err
		}
		f.records, f.mp, f.size = len(evs), mp, len(data)
		f.sha = hex.EncodeToString(sum[:])
		f.oldest, f.newest = oldest, newest
		g.collect(f, evs, len(b.files) > 1)
	}
	return nil
}

// collect makes the manifest entries of a written log file.
func (g *generator) collect(f *logFile, evs []event, mirrored bool) {
	day := f.day.Format(dayLayout)
	trail := "account"
	if f.org {
		trail = "organization"
	}
	for i, e := range evs {
		if e.decoy != "" {
			f.decoys = append(f.decoys, Decoy{EventID: e.id, EventSource: e.source, EventName: e.name, SourceKey: f.key, RecordIndex: i, Kind: KindLog, Reason: e.decoy})
		}
		if e.cp == nil {
			continue
		}
		c := *e.cp
		c.SourceKey, c.RecordIndex, c.DeliveryDay, c.Trail = f.key, i, day, trail
		tags := append([]string(nil), e.tags...)
		if mirrored {
			tags = append(tags, "duplicate_cross_trail")
		}
		if c.EventDate < day {
			tags = append(tags, "late")
		}
		if day < g.from || day > g.to {
			tags = append(tags, "outside_window")
		}
		if c.EventID == "" {
			tags = append(tags, "no_event_id")
		}
		if !f.gz {
			tags = append(tags, "uncompressed")
		}
		sort.Strings(tags)
		c.Tags = tags
		f.copies = append(f.copies, c)
	}
}

func (g *generator) writeFile(key string, data []byte) error {
	path := filepath.Join(g.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// writeObject writes data at key, gzipped when gz.
func (g *generator) writeObject(key string, data []byte, gz bool) error {
	if !gz {
		return g.writeFile(key, data)
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, g.gzipLevel())
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return g.writeFile(key, b.Bytes())
}

// writeDigests writes one digest file per trail, account, region and delivery day that has
// log files, chained to the previous day's, and returns their manifest entries.
func (g *generator) writeDigests() ([]Object, error) {
	var files []*logFile
	for _, b := range g.plan {
		files = append(files, b.files...)
	}
	type folderDay struct {
		org    bool
		acct   int
		region string
		day    time.Time
	}
	groups := map[folderDay][]*logFile{}
	var order []folderDay
	for _, f := range files {
		if f.acct >= g.cfg.DigestAccounts || !slices.Contains(g.w.regions[:min(g.cfg.DigestRegions, len(g.w.regions))], f.region) {
			continue
		}
		k := folderDay{f.org, f.acct, f.region, f.day}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.org != b.org {
			return a.org
		}
		if a.acct != b.acct {
			return a.acct < b.acct
		}
		if a.region != b.region {
			return a.region < b.region
		}
		return a.day.Before(b.day)
	})
	r := newRNG(g.cfg.Seed, streamDigest)
	type prev struct{ key, hash, sig string }
	last := map[folderDay]prev{} // by folder (day zeroed)
	var objs []Object
	for _, k := range order {
		fs := groups[k]
		sort.Slice(fs, func(i, j int) bool { return fs[i].key < fs[j].key })
		a := &g.w.accounts[k.acct]
		first, lastAt := fs[0].at, fs[0].at
		for _, f := range fs {
			if f.at.Before(first) {
				first = f.at
			}
			if f.at.After(lastAt) {
				lastAt = f.at
			}
		}
		start := first.Truncate(time.Hour)
		end := lastAt.Truncate(time.Hour).Add(time.Hour)
		if dayEnd := k.day.Add(24*time.Hour - time.Second); end.After(dayEnd) {
			end = dayEnd
		}
		trailName := accountTrailName
		if k.org {
			trailName = orgTrailName
		}
		key := g.prefix(k.org, k.acct, folderDigest, k.region, k.day) + a.id + "_CloudTrail-Digest_" + k.region + "_" +
			trailName + "_" + homeRegion + "_" + end.Format("20060102T150405Z") + ".json.gz"
		logs, oldest, newest := g.digestEntries(fs)
		folder := k
		folder.day = time.Time{}
		p, hasPrev := last[folder]
		var prevBucket, prevKey, prevHash, prevSig any
		if hasPrev {
			prevBucket, prevKey, prevHash, prevSig = g.w.bucket, p.key, p.hash, p.sig
		}
		d := obj{
			{"awsAccountId", a.id},
			{"digestStartTime", start.UTC().Format(eventTimeLayout)},
			{"digestEndTime", end.UTC().Format(eventTimeLayout)},
			{"digestS3Bucket", g.w.bucket},
			{"digestS3Object", key},
			{"digestPublicKeyFingerprint", randStr(r, hexChars, 32)},
			{"digestSignatureAlgorithm", "SHA256withRSA"},
			{"newestEventTime", newest.UTC().Format(eventTimeLayout)},
			{"oldestEventTime", oldest.UTC().Format(eventTimeLayout)},
			{"previousDigestS3Bucket", prevBucket},
			{"previousDigestS3Object", prevKey},
			{"previousDigestHashValue", prevHash},
			{"previousDigestHashAlgorithm", "SHA-256"},
			{"previousDigestSignature", prevSig},
			{"logFiles", logs},
		}
		data := appendJSON(nil, d)
		sum := sha256.Sum256(data)
		last[folder] = prev{key: key, hash: hex.EncodeToString(sum[:]), sig: randStr(r, hexChars, 512)}
		if g.keys[key] {
			return nil, fmt.Errorf("gentrail: duplicate key %s", key)
		}
		g.keys[key] = true
		if err := g.writeObject(key, data, true); err != nil {
			return nil, err
		}
		objs = append(objs, g.object(key, KindDigest, k.org, k.acct, k.region, k.day, true, 0, 0, len(data)))
	}
	return objs, nil
}

func (g *generator) object(key, kind string, org bool, acct int, region string, day time.Time, gz bool, recs, mp, size int) Object {
	o := Object{
		Key: key, Kind: kind, Account: g.w.accounts[acct].id, Region: region,
		DeliveryDay: day.Format(dayLayout), Compressed: gz, Records: recs, Marketplace: mp, Bytes: size,
	}
	if org {
		o.OrgID = g.w.orgID
	}
	return o
}

// manifest assembles the manifest from what was written.
func (g *generator) manifest(digests []Object) *Manifest {
	m := &Manifest{
		Config: g.cfg,
		Window: Window{From: g.from, To: g.to},
		Copies: []Copy{},
		Decoys: []Decoy{},
	}
	for _, b := range g.plan {
		for _, f := range b.files {
			m.Copies = append(m.Copies, f.copies...)
			m.Decoys = append(m.Decoys, f.decoys...)
			o := g.object(f.key, KindLog, f.org, f.acct, f.region, f.day, f.gz, f.records, f.mp, f.size)
			o.DigestedBy = f.digestedBy
			m.Objects = append(m.Objects, o)
		}
	}
	for _, o := range g.others {
		m.Decoys = append(m.Decoys, o.decoys...)
		m.Objects = append(m.Objects, g.object(o.key, o.kind, o.org, o.acct, o.region, o.day, o.gz, o.recs, 0, len(o.data)))
	}
	m.Objects = append(m.Objects, digests...)
	sort.Slice(m.Copies, func(i, j int) bool { return less(m.Copies[i], m.Copies[j]) })
	sort.Slice(m.Decoys, func(i, j int) bool {
		a, b := m.Decoys[i], m.Decoys[j]
		if a.SourceKey != b.SourceKey {
			return a.SourceKey < b.SourceKey
		}
		return a.RecordIndex < b.RecordIndex
	})
	sort.Slice(m.Objects, func(i, j int) bool { return m.Objects[i].Key < m.Objects[j].Key })
	return m
}
