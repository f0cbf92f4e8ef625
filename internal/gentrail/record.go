package gentrail

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

const (
	eventTimeLayout = "2006-01-02T15:04:05Z"
	usageTimeLayout = "Jan 2, 2006 3:04:05 PM" // how CloudTrail shows timestamps inside parameters
	dayLayout       = "2006-01-02"
)

// ctx is where and when one event happens.
type ctx struct {
	r      *rand.Rand
	w      *world
	acct   *account
	region string
	t      time.Time
}

// event is one generated record, with what the generator knows about it.
type event struct {
	rec    obj
	id     string // eventID ("" when the record has none)
	source string
	name   string
	t      time.Time
	cp     *Copy  // Marketplace events: the manifest entry, less the per-copy fields
	decoy  string // decoys: why the record looks like, but is not, a Marketplace event
	tags   []string
}

// rec is a CloudTrail record under construction. obj() lays its fields out in CloudTrail's
// order; empty optional fields are left out.
type rec struct {
	Version       string
	Identity      obj
	IdentityType  string
	Time          time.Time
	Source, Name  string
	Region        string
	IP, UA        string
	ErrCode       string
	ErrMsg        string
	Req           any // requestParameters: nil is logged as null
	Resp          any // responseElements: nil is logged as null...
	NoResp        bool
	Additional    any
	RequestID     string
	EventID       string
	ReadOnly      any // bool; nil leaves it out
	Resources     arr
	EventType     string
	APIVersion    string
	Management    any // bool; nil leaves it out
	Recipient     string
	ServiceDetail any
	SharedEventID string
	VPCEndpointID string
	Category      string
	TLS           obj
	ConsoleCreds  string
}

func (x *rec) obj() obj {
	o := make(obj, 0, 28)
	o = append(o, kv{"eventVersion", x.Version})
	if x.Identity != nil {
		o = append(o, kv{"userIdentity", x.Identity})
	}
	o = append(o,
		kv{"eventTime", x.Time.UTC().Format(eventTimeLayout)},
		kv{"eventSource", x.Source},
		kv{"eventName", x.Name},
		kv{"awsRegion", x.Region},
		kv{"sourceIPAddress", x.IP},
		kv{"userAgent", x.UA},
	)
	if x.ErrCode != "" {
		o = append(o, kv{"errorCode", x.ErrCode})
		if x.ErrMsg != "" {
			o = append(o, kv{"errorMessage", x.ErrMsg})
		}
	}
	o = append(o, kv{"requestParameters", x.Req})
	if !x.NoResp {
		o = append(o, kv{"responseElements", x.Resp})
	}
	if x.Additional != nil {
		o = append(o, kv{"additionalEventData", x.Additional})
	}
	if x.RequestID != "" {
		o = append(o, kv{"requestID", x.RequestID})
	}
	if x.EventID != "" {
		o = append(o, kv{"eventID", x.EventID})
	}
	if x.ReadOnly != nil {
		o = append(o, kv{"readOnly", x.ReadOnly})
	}
	if x.Resources != nil {
		o = append(o, kv{"resources", x.Resources})
	}
	if x.EventType != "" {
		o = append(o, kv{"eventType", x.EventType})
	}
	if x.APIVersion != "" {
		o = append(o, kv{"apiVersion", x.APIVersion})
	}
	if x.Management != nil {
		o = append(o, kv{"managementEvent", x.Management})
	}
	if x.Recipient != "" {
		o = append(o, kv{"recipientAccountId", x.Recipient})
	}
	if x.ServiceDetail != nil {
		o = append(o, kv{"serviceEventDetails", x.ServiceDetail})
	}
	if x.SharedEventID != "" {
		o = append(o, kv{"sharedEventID", x.SharedEventID})
	}
	if x.VPCEndpointID != "" {
		o = append(o, kv{"vpcEndpointId", x.VPCEndpointID})
	}
	if x.Category != "" {
		o = append(o, kv{"eventCategory", x.Category})
	}
	if x.TLS != nil {
		o = append(o, kv{"tlsDetails", x.TLS})
	}
	if x.ConsoleCreds != "" {
		o = append(o, kv{"sessionCredentialFromConsole", x.ConsoleCreds})
	}
	return o
}

// noise turns the record into a non-Marketplace event.
func (x *rec) noise() event {
	return event{rec: x.obj(), id: x.EventID, source: x.Source, name: x.Name, t: x.Time}
}

// decoy turns the record into a decoy: a non-Marketplace event that mentions Marketplace.
func (x *rec) decoy(reason string) event {
	e := x.noise()
	e.decoy = reason
	return e
}

// mp turns the record into a Marketplace event, returning its manifest entry to fill in.
func (x *rec) mp(variant string) (event, *Copy) {
	cp := &Copy{
		EventID:            x.EventID,
		EventSource:        x.Source,
		EventName:          x.Name,
		EventTime:          x.Time.UTC().Format(eventTimeLayout),
		EventDate:          x.Time.UTC().Format(dayLayout),
		Marketplace:        true,
		EventVersion:       x.Version,
		AWSRegion:          x.Region,
		RecipientAccountID: x.Recipient,
		UserIdentityType:   x.IdentityType,
		ErrorCode:          x.ErrCode,
		Variant:            variant,
	}
	return event{rec: x.obj(), id: x.EventID, source: x.Source, name: x.Name, t: x.Time, cp: cp}, cp
}

// version picks an eventVersion as the mix of a 2024 archive has them.
func (c *ctx) version() string {
	switch x := c.r.IntN(100); {
	case x < 45:
		return "1.08"
	case x < 80:
		return "1.09"
	case x < 90:
		return "1.05"
	case x < 97:
		return "1.10"
	default:
		return "1.11"
	}
}

// newRec starts a record of an API call made in the context's account and region.
func (c *ctx) newRec(source, name string) *rec {
	v := c.version()
	x := &rec{
		Version:   v,
		Time:      c.t,
		Source:    source,
		Name:      name,
		Region:    c.region,
		IP:        c.ip(),
		UA:        pick(c.r, sdkAgents),
		RequestID: uuid4(c.r),
		EventID:   uuid4(c.r),
		ReadOnly:  false,
		EventType: "AwsApiCall",
		Recipient: c.acct.id,
	}
	if v != "1.05" { // managementEvent came with 1.06, eventCategory with 1.07
		x.Management = true
		x.Category = "Management"
	}
	if v != "1.05" && chance(c.r, 0.6) { // tlsDetails came with 1.08
		x.TLS = c.tls(source)
	}
	return x
}

func (c *ctx) tls(source string) obj {
	host := strings.TrimSuffix(source, ".amazonaws.com") + "." + c.region + ".amazonaws.com"
	if chance(c.r, 0.5) {
		return obj{{"tlsVersion", "TLSv1.3"}, {"cipherSuite", "TLS_AES_128_GCM_SHA256"}, {"clientProvidedHostHeader", host}}
	}
	return obj{{"tlsVersion", "TLSv1.2"}, {"cipherSuite", "ECDHE-RSA-AES128-GCM-SHA256"}, {"clientProvidedHostHeader", host}}
}

// ip returns an address from the documentation ranges (or, rarely, IPv6).
func (c *ctx) ip() string {
	r := c.r
	switch r.IntN(10) {
	case 0, 1, 2:
		return "192.0.2." + strconv.Itoa(1+r.IntN(254))
	case 3, 4, 5:
		return "198.51.100." + strconv.Itoa(1+r.IntN(254))
	case 6, 7, 8:
		return "203.0.113." + strconv.Itoa(1+r.IntN(254))
	default:
		return "2001:db8:" + randStr(r, hexChars, 4) + "::" + randStr(r, hexChars, 3)
	}
}

var sdkAgents = []string{
	"aws-cli/2.15.22 Python/3.11.6 Linux/6.1.77-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off",
	"aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64",
	"Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
	"aws-sdk-java/2.25.6 Linux/5.10.209-198.858.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
	"aws-sdk-nodejs/2.1560.0 linux/v18.19.1 exec-env/AWS_Lambda_nodejs18.x promise",
	"Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.39.1 aws-sdk-go-v2/1.25.2",
}

const (
	consoleAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	awsInternal  = "AWS Internal"
)

func (x *rec) setIdentity(typ string, o obj) { x.IdentityType, x.Identity = typ, o }

// user makes one of the account's IAM users the caller.
func (c *ctx) user(x *rec) {
	a := c.acct
	i := c.r.IntN(len(a.users))
	x.setIdentity("IAMUser", obj{
		{"type", "IAMUser"},
		{"principalId", a.userIDs[i]},
		{"arn", "arn:aws:iam::" + a.id + ":user/" + a.users[i]},
		{"accountId", a.id},
		{"accessKeyId", a.userKeys[i]},
		{"userName", a.users[i]},
	})
}

// role makes a session of one of the account's roles the caller. web is the session's
// webIdFederationData (nil: {}).
func (c *ctx) role(x *rec, role int, session string, web obj) {
	a := c.acct
	if web == nil {
		web = obj{}
	}
	created := x.Time.Add(-time.Duration(60+c.r.IntN(3500)) * time.Second)
	x.setIdentity("AssumedRole", obj{
		{"type", "AssumedRole"},
		{"principalId", a.roleIDs[role] + ":" + session},
		{"arn", "arn:aws:sts::" + a.id + ":assumed-role/" + a.roles[role] + "/" + session},
		{"accountId", a.id},
		{"accessKeyId", "ASIA" + randStr(c.r, upperChars, 16)},
		{"sessionContext", obj{
			{"sessionIssuer", obj{
				{"type", "Role"},
				{"principalId", a.roleIDs[role]},
				{"arn", "arn:aws:iam::" + a.id + ":role/" + a.roles[role]},
				{"accountId", a.id},
				{"userName", a.roles[role]},
			}},
			{"webIdFederationData", web},
			{"attributes", obj{
				{"creationDate", created.UTC().Format(eventTimeLayout)},
				{"mfaAuthenticated", "false"},
			}},
		}},
	})
}

// sso makes a person signed in through IAM Identity Center the caller, from the console.
func (c *ctx) sso(x *rec) {
	c.role(x, roleSSOAdmin, pick(c.r, c.acct.users)+"@example.com", nil)
	x.UA = consoleAgent
	x.ConsoleCreds = "true"
}

// person makes an IAM user or a person's role session the caller.
func (c *ctx) person(x *rec) {
	if chance(c.r, 0.5) {
		c.user(x)
		return
	}
	c.role(x, pick(c.r, []int{roleSSOAdmin, roleSeller, roleCIDeploy}), pick(c.r, c.acct.users)+"@example.com", nil)
}

func (c *ctx) root(x *rec) {
	a := c.acct
	x.setIdentity("Root", obj{
		{"type", "Root"},
		{"principalId", a.id},
		{"arn", "arn:aws:iam::" + a.id + ":root"},
		{"accountId", a.id},
		{"accessKeyId", "ASIA" + randStr(c.r, upperChars, 16)},
	})
}

// service makes an AWS service the caller.
func (c *ctx) service(x *rec, svc string) {
	x.setIdentity("AWSService", obj{{"type", "AWSService"}, {"invokedBy", svc}})
	x.IP, x.UA = svc, svc
}

func (c *ctx) instanceID() string { return "i-0" + randStr(c.r, hexChars, 16) }

func usageTime(t time.Time) string { return t.UTC().Format(usageTimeLayout) }
