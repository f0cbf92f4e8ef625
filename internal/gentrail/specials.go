package gentrail

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// The sample's hand-placed special cases. Accounts: 0 is in both trails, 1 in the
// organization trail only, 2 in its own trail only. Regions: us-east-1 and us-west-2.

const (
	acctDual = 0
	acctOrg  = 1
	acctOwn  = 2
)

type specials struct {
	g *generator
	r *rand.Rand
}

// day returns the window's day i (negative: before it) at hh:mm:ss.
func (s *specials) day(i int, clock string) time.Time {
	t, err := time.Parse("15:04:05", clock)
	if err != nil {
		panic(err)
	}
	d := s.g.cfg.Start.AddDate(0, 0, i)
	return d.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

func (s *specials) ctx(acct int, region string, t time.Time) *ctx {
	return &ctx{r: s.r, w: s.g.w, acct: &s.g.w.accounts[acct], region: region, t: t}
}

func findTemplate(ts []template, variant string) template {
	for _, t := range ts {
		if t.variant == variant {
			return t
		}
	}
	panic("gentrail: no template " + variant)
}

// mp makes a Marketplace event of the given variant.
func (s *specials) mp(acct int, region string, t time.Time, variant string, tags ...string) event {
	e := findTemplate(marketplaceTemplates, variant).build(s.ctx(acct, region, t))
	e.tags = append(e.tags, tags...)
	return e
}

// noise makes an ordinary event.
func (s *specials) noise(acct int, region string, t time.Time) event {
	p := &s.g.noiseAll
	if region != homeRegion {
		p = &s.g.noiseRegional
	}
	return p.build(s.ctx(acct, region, t))
}

// file plans a log file (one per trail of the account when both is true, else only the
// given trail's) delivered at `at` holding evs.
func (s *specials) file(org bool, acct int, region string, at time.Time, gz bool, evs ...event) *batch {
	b := &batch{seq: -1, acct: acct, region: region, events: evs}
	b.files = []*logFile{s.g.newLogFile(s.r, org, acct, region, at, gz)}
	s.g.plan = append(s.g.plan, b)
	return b
}

func (s *specials) bothTrails(acct int, region string, at time.Time, evs ...event) {
	b := &batch{seq: -1, acct: acct, region: region, events: evs}
	b.files = s.g.trailFiles(s.r, acct, region, at, true)
	s.g.plan = append(s.g.plan, b)
}

func (g *generator) planSpecials() error {
	w := g.w
	if !(w.accounts[acctDual].org && w.accounts[acctDual].own && w.accounts[acctOrg].org && !w.accounts[acctOrg].own &&
		!w.accounts[acctOwn].org && w.accounts[acctOwn].own) {
		return fmt.Errorf("gentrail: specials: unexpected trail layout of accounts 0-2")
	}
	s := &specials{g: g, r: newRNG(g.cfg.Seed, streamSpecial)}
	east, west := w.regions[0], w.regions[1]
	last := g.cfg.Days - 1

	// Every Marketplace shape at least once, between noise, and every decoy.
	{
		var evs []event
		t := s.day(0, "13:40:00")
		for _, tpl := range marketplaceTemplates {
			evs = append(evs, s.mp(acctOrg, east, t, tpl.variant, "showcase"))
			evs = append(evs, s.noise(acctOrg, east, t.Add(31*time.Second)))
			t = t.Add(70 * time.Second)
		}
		for _, tpl := range decoyTemplates {
			evs = append(evs, tpl.build(s.ctx(acctOrg, east, t)))
			t = t.Add(23 * time.Second)
		}
		s.file(true, acctOrg, east, s.day(0, "14:35:17"), true, evs...)
	}

	// Late events: delivered at 00:05 on day 1, logged late on day 0.
	s.file(true, acctOrg, east, s.day(1, "00:05:42"), true,
		s.mp(acctOrg, east, s.day(0, "23:47:10"), "BatchMeterUsage/success"),
		s.noise(acctOrg, east, s.day(0, "23:48:02")),
		s.mp(acctOrg, east, s.day(0, "23:50:33"), "MeterUsage/success"),
		s.mp(acctOrg, east, s.day(0, "23:52:19"), "AcceptAgreementRequest/success"),
		s.noise(acctOrg, east, s.day(0, "23:54:00")),
		s.mp(acctOrg, east, s.day(0, "23:56:45"), "StartChangeSet/success"),
		s.mp(acctOrg, east, s.day(0, "23:58:01"), "ResolveCustomer/success"),
		s.mp(acctOrg, east, s.day(0, "23:59:59"), "GetEntitlements/success"),
		s.mp(acctOrg, east, s.day(1, "00:01:30"), "DescribeEntity/success"),
		s.noise(acctOrg, east, s.day(1, "00:02:11")),
		s.mp(acctOrg, east, s.day(1, "00:03:05"), "ForecastAgreementUsage/success"),
	)

	// The same records delivered by the organization trail and the account's own trail,
	// including a record without eventID (kept twice: it cannot be deduplicated).
	s.bothTrails(acctDual, east, s.day(1, "09:15:05"),
		s.mp(acctDual, east, s.day(1, "08:58:12"), "BatchMeterUsage/customer_aws_account_id"),
		s.noise(acctDual, east, s.day(1, "08:59:40")),
		s.mp(acctDual, east, s.day(1, "09:01:03"), "CancelAgreement/success"),
		s.mp(acctDual, east, s.day(1, "09:03:27"), "Subscribe/legacy_v1.0_no_event_id"),
		s.noise(acctDual, east, s.day(1, "09:05:00")),
		s.mp(acctDual, east, s.day(1, "09:07:45"), "PutDeploymentParameter/success"),
		s.mp(acctDual, east, s.day(1, "09:10:09"), "SearchListings/console"),
		s.noise(acctDual, east, s.day(1, "09:12:30")),
		// The 2026 shapes delivered twice: written once, counted once.
		s.mp(acctDual, east, s.day(1, "09:13:14"), "BatchMeterUsage/concurrent_agreements_two_licenses"),
		s.mp(acctDual, east, s.day(1, "09:14:02"), "GetListingView/console"),
	)

	// A record delivered twice to the same folder (a redelivery), on the last window day.
	{
		dup := s.mp(acctOrg, west, s.day(last, "05:58:20"), "BatchMeterUsage/success", "duplicate_same_folder")
		s.file(true, acctOrg, west, s.day(last, "06:10:33"), true,
			s.noise(acctOrg, west, s.day(last, "05:55:01")),
			dup,
			s.mp(acctOrg, west, s.day(last, "06:01:44"), "MeterUsage/success"),
			s.noise(acctOrg, west, s.day(last, "06:03:10")),
			s.mp(acctOrg, west, s.day(last, "06:06:52"), "RegisterUsage/success"),
		)
		s.file(true, acctOrg, west, s.day(last, "06:16:02"), true,
			s.noise(acctOrg, west, s.day(last, "06:09:15")),
			dup,
			s.mp(acctOrg, west, s.day(last, "06:11:38"), "BatchMeterUsage/unprocessed"),
			s.noise(acctOrg, west, s.day(last, "06:13:00")),
		)
	}

	// A record delivered on two different days (redelivery after midnight): the copy in the
	// first file after midnight repeats one of the day before's last file (its tail), and
	// is dropped.
	{
		dup := s.mp(acctOwn, east, s.day(last-1, "23:51:09"), "BatchMeterUsage/success", "duplicate_cross_day")
		s.file(false, acctOwn, east, s.day(last-1, "23:57:21"), true,
			s.noise(acctOwn, east, s.day(last-1, "23:45:30")),
			dup,
			s.mp(acctOwn, east, s.day(last-1, "23:53:40"), "StartChangeSet/success"),
			s.noise(acctOwn, east, s.day(last-1, "23:55:02")),
		)
		s.file(false, acctOwn, east, s.day(last, "00:03:48"), true,
			dup,
			s.mp(acctOwn, east, s.day(last-1, "23:59:30"), "DescribeChangeSet/success"),
			s.noise(acctOwn, east, s.day(last, "00:01:05")),
		)
	}

	// A record delivered again two days later, at noon: not in a tail, so both copies are
	// kept, one per delivery day (the documented *_unique views remove the second).
	{
		dup := s.mp(acctOrg, west, s.day(0, "12:02:30"), "MeterUsage/success", "duplicate_cross_day")
		s.file(true, acctOrg, west, s.day(0, "12:10:04"), true,
			s.noise(acctOrg, west, s.day(0, "12:01:00")),
			dup,
		)
		s.file(true, acctOrg, west, s.day(last, "12:20:51"), true,
			dup,
			s.noise(acctOrg, west, s.day(last, "12:14:00")),
		)
	}

	// An uncompressed log file.
	s.file(true, acctOrg, west, s.day(last, "11:30:12"), false,
		s.noise(acctOrg, west, s.day(last, "11:14:00")),
		s.mp(acctOrg, west, s.day(last, "11:16:21"), "BatchMeterUsage/success"),
		s.mp(acctOrg, west, s.day(last, "11:19:05"), "MeterUsage/success"),
		s.noise(acctOrg, west, s.day(last, "11:22:40")),
		s.mp(acctOrg, west, s.day(last, "11:25:13"), "ResolveCustomer/success"),
	)

	// Delivery days just outside the window, with Marketplace events: the day before, and
	// the day after (including events of the window's last day delivered after midnight).
	s.file(true, acctOrg, east, s.day(-1, "16:20:44"), true,
		s.mp(acctOrg, east, s.day(-1, "16:01:10"), "BatchMeterUsage/success"),
		s.mp(acctOrg, east, s.day(-1, "16:04:52"), "AcceptAgreementRequest/success"),
		s.noise(acctOrg, east, s.day(-1, "16:08:00")),
		s.mp(acctOrg, east, s.day(-1, "16:12:31"), "StartChangeSet/success"),
		s.mp(acctOrg, east, s.day(-1, "16:15:09"), "MeterUsage/success"),
	)
	s.file(false, acctOwn, east, s.day(last+1, "00:04:10"), true,
		s.mp(acctOwn, east, s.day(last, "23:55:48"), "BatchMeterUsage/success"),
		s.mp(acctOwn, east, s.day(last, "23:57:02"), "CancelAgreement/success"),
		s.noise(acctOwn, east, s.day(last+1, "00:00:40")),
	)
	s.file(false, acctOwn, east, s.day(last+1, "10:40:00"), true,
		s.mp(acctOwn, east, s.day(last+1, "10:21:19"), "BatchMeterUsage/success"),
		s.mp(acctOwn, east, s.day(last+1, "10:25:33"), "DescribeEntity/success"),
		s.noise(acctOwn, east, s.day(last+1, "10:30:00")),
		s.mp(acctOwn, east, s.day(last+1, "10:33:47"), "GetListing/console"),
	)

	s.others()
	return nil
}

// others plans the objects that are not log files: a notes file and a .DS_Store in day
// folders, and Insights files.
func (s *specials) others() {
	g, w := s.g, s.g.w
	east := w.regions[0]
	// A text file in a day folder, named like a log file but for its extension, holding a
	// Marketplace record.
	{
		day := s.day(0, "00:00:00")
		e := s.mp(acctOrg, east, s.day(0, "11:48:27"), "BatchMeterUsage/success")
		data := []byte("Exported for the billing review; see ticket FIN-2291.\n" + string(encodeRecords([]event{e})) + "\n")
		key := g.prefix(true, acctOrg, folderLogs, east, day) + w.accounts[acctOrg].id + "_CloudTrail_" + east + "_" +
			s.day(0, "12:00:00").Format("20060102T1504Z") + "_notes.txt"
		g.addOther(&otherObject{key: key, kind: KindOther, org: true, acct: acctOrg, region: east, day: day, data: data, recs: 1,
			decoys: []Decoy{{EventID: e.id, EventSource: e.source, EventName: e.name, SourceKey: key, Kind: KindOther, Reason: reasonNotes}}})
	}
	// A .DS_Store, as a copy made on a Mac leaves.
	{
		day := s.day(1, "00:00:00")
		data := append([]byte("\x00\x00\x00\x01Bud1\x00\x00\x10\x00\x00\x00\x08\x00"), make([]byte, 100)...)
		key := g.prefix(false, acctOwn, folderLogs, east, day) + ".DS_Store"
		g.addOther(&otherObject{key: key, kind: KindOther, acct: acctOwn, region: east, day: day, data: data})
	}
	// Insights files: insight records about a Marketplace API, and one holding a full
	// Marketplace API call record.
	{
		day := s.day(0, "00:00:00")
		shared := uuid4(s.r)
		evs := []event{
			s.insight(acctOrg, east, s.day(0, "17:00:00"), "Start", shared, srcMetering, "BatchMeterUsage"),
			s.insight(acctOrg, east, s.day(0, "18:00:00"), "End", shared, srcMetering, "BatchMeterUsage"),
		}
		s.insightFile(true, acctOrg, east, day, s.day(0, "18:27:00"), evs)
	}
	{
		day := s.day(0, "00:00:00")
		evs := []event{
			s.insight(acctOrg, east, s.day(0, "20:00:00"), "Start", uuid4(s.r), srcAgreement, "AcceptAgreementRequest"),
			s.mp(acctOrg, east, s.day(0, "20:02:13"), "BatchMeterUsage/success"),
		}
		evs[1].decoy = reasonInsightEvent
		s.insightFile(true, acctOrg, east, day, s.day(0, "20:31:00"), evs)
	}
}

func (g *generator) addOther(o *otherObject) {
	if g.keys[o.key] {
		panic("gentrail: duplicate key " + o.key)
	}
	g.keys[o.key] = true
	g.others = append(g.others, o)
}

func (s *specials) insightFile(org bool, acct int, region string, day, at time.Time, evs []event) {
	g := s.g
	key := g.prefix(org, acct, folderInsight, region, day) + g.w.accounts[acct].id + "_CloudTrail-Insight_" + region + "_" +
		at.Format("20060102T1504Z") + "_" + randStr(s.r, mixedChars, 16) + ".json.gz"
	o := &otherObject{key: key, kind: KindInsight, org: org, acct: acct, region: region, day: day, gz: true, data: encodeRecords(evs), recs: len(evs)}
	for i, e := range evs {
		reason := e.decoy
		if reason == "" {
			reason = reasonInsight
		}
		o.decoys = append(o.decoys, Decoy{EventID: e.id, EventSource: e.source, EventName: e.name, SourceKey: key, RecordIndex: i, Kind: KindInsight, Reason: reason})
	}
	g.addOther(o)
}

// insight makes a CloudTrail Insights record (state Start or End) about an API.
func (s *specials) insight(acct int, region string, t time.Time, state, shared, source, name string) event {
	c := s.ctx(acct, region, t)
	a := c.acct
	id := uuid4(s.r)
	base, peak := 0.0347, 2.5+float64(s.r.IntN(40))/10
	stats := obj{{"baseline", obj{{"average", base}}}, {"insight", obj{{"average", peak}}}}
	if state == "End" {
		stats = append(stats, kv{"insightDuration", 60}, kv{"baselineDuration", 10079})
	}
	arn := "arn:aws:sts::" + a.id + ":assumed-role/" + a.roles[roleSaaSMetering] + "/saas-metering-1"
	rec := obj{
		{"eventVersion", "1.08"},
		{"eventTime", t.UTC().Format(eventTimeLayout)},
		{"awsRegion", region},
		{"eventID", id},
		{"eventType", "AwsCloudTrailInsight"},
		{"recipientAccountId", a.id},
		{"sharedEventID", shared},
		{"insightDetails", obj{
			{"state", state},
			{"eventSource", source},
			{"eventName", name},
			{"insightType", "ApiCallRateInsight"},
			{"insightContext", obj{
				{"statistics", stats},
				{"attributions", arr{
					obj{{"attribute", "userIdentityArn"}, {"insight", arr{obj{{"value", arn}, {"average", peak}}}}, {"baseline", arr{obj{{"value", arn}, {"average", base}}}}},
					obj{{"attribute", "userAgent"}, {"insight", arr{obj{{"value", sdkAgents[2]}, {"average", peak}}}}, {"baseline", arr{obj{{"value", sdkAgents[2]}, {"average", base}}}}},
					obj{{"attribute", "errorCode"}, {"insight", arr{obj{{"value", "null"}, {"average", peak}}}}, {"baseline", arr{obj{{"value", "null"}, {"average", base}}}}},
				}},
			}},
		}},
		{"eventCategory", "Insight"},
	}
	return event{rec: rec, id: id, source: source, name: name, t: t}
}
