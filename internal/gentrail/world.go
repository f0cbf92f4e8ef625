package gentrail

import (
	"math/rand/v2"
)

// allRegions are the regions accounts log in, in the order Config.Regions takes them. The
// first is us-east-1: the Marketplace services other than metering answer only there, and
// global services (IAM) log there.
var allRegions = []string{
	"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1",
	"us-east-2", "ca-central-1", "eu-west-2", "ap-south-1", "sa-east-1", "eu-north-1",
	"ap-southeast-1", "ap-northeast-2", "us-west-1", "eu-west-3", "ap-northeast-3", "eu-south-1",
	"ap-east-1", "me-south-1",
}

// MaxRegions is the largest Config.Regions.
var MaxRegions = len(allRegions)

const homeRegion = "us-east-1"

// Trail names (they appear in digest file names). The account trails' name mentions
// Marketplace on purpose: a digest's name is no reason to read it.
const (
	orgTrailName     = "organization-trail"
	accountTrailName = "marketplace-audit"
)

// Role indexes into account.roles: every account has the same role names.
const (
	roleSSOAdmin = iota
	roleSeller
	roleSaaSMetering
	roleEKSMetering
	roleEC2App
	roleOrgAccess
	roleCIDeploy
	numRoles
)

var roleNames = [numRoles]string{
	"", // AWSReservedSSO_AdministratorAccess_<hex>, per account
	"MarketplaceSellerRole",
	"SaaSMeteringRole",
	"eks-marketplace-metering",
	"EC2AppInstanceRole",
	"OrganizationAccountAccessRole",
	"ci-deploy",
}

var userNamePool = []string{
	"alice", "bob", "carol", "dmitri", "eve", "farah", "gustavo", "hana", "ivan", "julia",
	"kwame", "li.wei", "marta", "nikhil", "olga", "pedro", "quinn", "rosa", "sven", "tomoko",
}

type account struct {
	id       string
	org, own bool // delivered by the organization trail / by its own account trail
	users    []string
	userIDs  []string // AIDA...
	userKeys []string // AKIA...
	roles    [numRoles]string
	roleIDs  [numRoles]string // AROA...
	oidc     string           // the EKS cluster's OIDC id, for RegisterUsage
}

type product struct {
	code    string // productCode: 25 lowercase letters and digits
	id      string // prod-...
	listing string // prodview-...
	title   string
	kind    string // entity type, e.g. SaaSProduct@1.0
	dims    []string
	offers  []string
}

type customer struct {
	id      string // customerIdentifier
	account string // customerAWSAccountId
	// licenses are the licence ARNs of the customer's two agreements (Concurrent
	// Agreements: one buyer account can hold several agreements for one product, each
	// with its own licence), which metering of that shape names on every usage record.
	licenses [2]string
}

// world is everything fixed for one Config: the organization, its accounts, and the
// Marketplace products, customers and agreements the events talk about.
type world struct {
	orgID      string
	bucket     string
	accounts   []account
	regions    []string
	products   []product
	customers  []customer
	agreements []string // agmt-...
	agreeReqs  []string // the agreement requests whose acceptance made them
	searches   []string
}

var productTitles = []string{
	"Acme Log Analytics", "Nimbus Backup Pro", "Données Insight Platform", "Quantum Firewall",
	"Helix Data Warehouse", "Orbit CI Runners", "Kestrel Observability", "Lumen Search",
}

var dimensionPool = [][]string{
	{"Users", "Storage_GB"},
	{"APICalls_1K", "DataProcessed_GB", "Seats"},
	{"Hosts", "vCPU_Hours"},
	{"Requests", "Users"},
	{"Nodes", "Storage_GB", "Premium_Support"},
	{"Agents", "Events_1M"},
	{"Seats"},
	{"Queries", "Scanned_TB"},
}

var entityTypes = []string{"SaaSProduct@1.0", "SaaSProduct@1.0", "AmiProduct@1.0", "ContainerProduct@1.0"}

func newWorld(cfg Config) *world {
	r := newRNG(cfg.Seed, streamWorld)
	w := &world{
		orgID:   "o-" + randStr(r, "abcdefghijklmnopqrstuvwxyz0123456789", 10),
		bucket:  "aws-cloudtrail-logs-" + randStr(r, digitChars, 12) + "-" + randStr(r, hexChars, 8),
		regions: allRegions[:cfg.Regions],
	}
	seen := map[string]bool{}
	for i := 0; i < cfg.Accounts; i++ {
		a := account{oidc: randStr(r, "0123456789ABCDEF", 32)}
		for {
			a.id = accountID(r)
			if !seen[a.id] {
				seen[a.id] = true
				break
			}
		}
		switch {
		case i == 0: // the management account: in the organization trail and its own trail
			a.org, a.own = true, true
		case i%2 == 1:
			a.org = true
		default:
			a.own = true
		}
		nu := 3 + r.IntN(3)
		for _, j := range r.Perm(len(userNamePool))[:nu] {
			a.users = append(a.users, userNamePool[j])
			a.userIDs = append(a.userIDs, "AIDA"+randStr(r, upperChars, 17))
			a.userKeys = append(a.userKeys, "AKIA"+randStr(r, upperChars, 16))
		}
		for j := range a.roles {
			a.roles[j] = roleNames[j]
			a.roleIDs[j] = "AROA" + randStr(r, upperChars, 17)
		}
		a.roles[roleSSOAdmin] = "AWSReservedSSO_AdministratorAccess_" + randStr(r, hexChars, 16)
		w.accounts = append(w.accounts, a)
	}
	for i, t := range productTitles {
		p := product{
			code:    randStr(r, lowerChars, 25),
			id:      "prod-" + randStr(r, lowerChars, 13),
			listing: "prodview-" + randStr(r, lowerChars, 13),
			title:   t,
			kind:    entityTypes[i%len(entityTypes)],
			dims:    dimensionPool[i%len(dimensionPool)],
		}
		for k := 0; k < 1+r.IntN(3); k++ {
			p.offers = append(p.offers, "offer-"+randStr(r, lowerChars, 13))
		}
		w.products = append(w.products, p)
	}
	for i := 0; i < 24; i++ {
		w.customers = append(w.customers, customer{id: randStr(r, mixedChars, 11), account: accountID(r)})
	}
	for i := 0; i < 16; i++ {
		w.agreements = append(w.agreements, "agmt-"+randStr(r, lowerChars, 25))
		w.agreeReqs = append(w.agreeReqs, "agrq-"+randStr(r, lowerChars, 25))
	}
	// Drawn after everything else, so that the rest of the world stays what it was.
	for i := range w.customers {
		for k := range w.customers[i].licenses {
			w.customers[i].licenses[k] = "arn:aws:license-manager::" + w.customers[i].account + ":license/l-" + randStr(r, hexChars, 32)
		}
	}
	w.searches = []string{"log analytics", "firewall", "backup", "observability", "data warehouse", "ci runners", "siem"}
	return w
}

// customerFor picks a product's customer: each product has its own subset of the customers,
// so that the metering records of a product name several, recurring, customers.
func (w *world) customerFor(r *rand.Rand, p int) customer {
	n := len(w.customers)
	return w.customers[(p*5+r.IntN(8))%n]
}
