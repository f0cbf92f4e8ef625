package gentrail

import (
	"strconv"
	"time"
)

// noiseTemplates are ordinary events of other services: most of an archive.
var noiseTemplates = []template{
	{"ec2/DescribeInstances", "ec2.amazonaws.com", "DescribeInstances", false, 10, describeInstances},
	{"ec2/RunInstances", "ec2.amazonaws.com", "RunInstances", false, 2, func(c *ctx) event { return runInstances(c, false) }},
	{"ec2/DescribeSecurityGroups", "ec2.amazonaws.com", "DescribeSecurityGroups", false, 4, describeSecurityGroups},
	{"s3/GetObject", "s3.amazonaws.com", "GetObject", false, 10, func(c *ctx) event { return getObject(c, "") }},
	{"s3/ListBuckets", "s3.amazonaws.com", "ListBuckets", false, 3, listBuckets},
	{"iam/GetUser", "iam.amazonaws.com", "GetUser", true, 3, func(c *ctx) event { return iamRead(c, "GetUser") }},
	{"iam/ListRoles", "iam.amazonaws.com", "ListRoles", true, 3, func(c *ctx) event { return iamRead(c, "ListRoles") }},
	{"sts/AssumeRole", "sts.amazonaws.com", "AssumeRole", false, 8, func(c *ctx) event { return assumeRole(c, "") }},
	{"sts/GetCallerIdentity", "sts.amazonaws.com", "GetCallerIdentity", false, 4, getCallerIdentity},
	{"kms/Decrypt", "kms.amazonaws.com", "Decrypt", false, 8, func(c *ctx) event { return kmsCall(c, "Decrypt") }},
	{"kms/GenerateDataKey", "kms.amazonaws.com", "GenerateDataKey", false, 4, func(c *ctx) event { return kmsCall(c, "GenerateDataKey") }},
	{"lambda/ListFunctions20150331", "lambda.amazonaws.com", "ListFunctions20150331", false, 3, listFunctions},
	{"ssm/GetParameter", "ssm.amazonaws.com", "GetParameter", false, 5, getParameter},
	{"cloudtrail/DescribeTrails", "cloudtrail.amazonaws.com", "DescribeTrails", false, 2, describeTrails},
	{"logs/CreateLogStream", "logs.amazonaws.com", "CreateLogStream", false, 5, createLogStream},
	{"signin/ConsoleLogin", "signin.amazonaws.com", "ConsoleLogin", true, 1, consoleLogin},
}

// decoyTemplates are non-Marketplace events that mention Marketplace: a tool that matches
// "marketplace" anywhere in a record, rather than in its eventSource, takes them.
var decoyTemplates = []template{
	{"decoy/iam/CreateServiceLinkedRole", "iam.amazonaws.com", "CreateServiceLinkedRole", true, 1, createServiceLinkedRole},
	{"decoy/sts/AssumeRole", "sts.amazonaws.com", "AssumeRole", false, 1, func(c *ctx) event { return assumeRole(c, srcMetering) }},
	{"decoy/events/PutRule", "events.amazonaws.com", "PutRule", false, 1, putRule},
	{"decoy/s3/GetObject", "s3.amazonaws.com", "GetObject", false, 1, func(c *ctx) event { return getObject(c, "marketplace/report.csv") }},
	{"decoy/license-manager/CheckoutLicense", "license-manager.amazonaws.com", "CheckoutLicense", false, 1, checkoutLicense},
	{"decoy/ec2/RunInstances", "ec2.amazonaws.com", "RunInstances", false, 1, func(c *ctx) event { return runInstances(c, true) }},
	{"decoy/cloudtrail/LookupEvents", "cloudtrail.amazonaws.com", "LookupEvents", false, 1, lookupEvents},
}

// Why each decoy is one (Decoy.Reason).
const (
	reasonServiceLinkedRole = "IAM call whose requestParameters name a Marketplace service-linked role"
	reasonInvokedBy         = "STS call made by metering-marketplace.amazonaws.com (userIdentity.invokedBy, sourceIPAddress)"
	reasonNestedSource      = "requestParameters hold a nested \"eventSource\": \"aws-marketplace.amazonaws.com\""
	reasonS3Key             = "S3 data event on an object key under marketplace/"
	reasonLicense           = "License Manager checkout of a Marketplace-issued license"
	reasonAMI               = "EC2 launch from a Marketplace AMI (productCodes type marketplace)"
	reasonLookup            = "CloudTrail lookup filtering on a Marketplace event source"
	reasonInsight           = "Insights record about a Marketplace API (CloudTrail-Insight folder)"
	reasonInsightEvent      = "Marketplace-shaped API call record inside a CloudTrail-Insight file"
	reasonNotes             = "Marketplace record in a day-folder object that is not a log file (.txt)"
)

// automation makes a caller that runs unattended: a role session of the CI or an app.
func (c *ctx) automation(x *rec) {
	if chance(c.r, 0.5) {
		c.role(x, roleCIDeploy, "gha-"+randStr(c.r, digitChars, 10), nil)
	} else {
		c.role(x, roleEC2App, c.instanceID(), nil)
	}
}

func (c *ctx) anyCaller(x *rec) {
	switch c.r.IntN(10) {
	case 0, 1, 2:
		c.person(x)
	case 3:
		c.sso(x)
	case 4:
		if chance(c.r, 0.2) {
			c.root(x)
		} else {
			c.user(x)
		}
	default:
		c.automation(x)
	}
}

func (c *ctx) accessDenied(x *rec, action string) {
	x.ErrCode = "AccessDenied"
	if x.Source == "ec2.amazonaws.com" {
		x.ErrCode = "Client.UnauthorizedOperation"
	}
	arn := "arn:aws:iam::" + c.acct.id + ":user/unknown"
	for _, m := range x.Identity {
		if m.k == "arn" {
			arn = m.v.(string)
		}
	}
	x.ErrMsg = "User: " + arn + " is not authorized to perform: " + action + " because no identity-based policy allows the " + action + " action"
}

func describeInstances(c *ctx) event {
	x := c.newRec("ec2.amazonaws.com", "DescribeInstances")
	c.anyCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"instancesSet", obj{}}, {"filterSet", obj{}}}
	if chance(c.r, 0.1) {
		c.accessDenied(x, "ec2:DescribeInstances")
	}
	return x.noise()
}

func runInstances(c *ctx, marketplaceAMI bool) event {
	x := c.newRec("ec2.amazonaws.com", "RunInstances")
	c.automation(x)
	ami := "ami-0" + randStr(c.r, hexChars, 16)
	id := c.instanceID()
	x.Req = obj{
		{"instancesSet", obj{{"items", arr{obj{{"imageId", ami}, {"minCount", 1}, {"maxCount", 1}}}}}},
		{"instanceType", pick(c.r, []string{"t3.micro", "m6i.large", "c7g.xlarge"})},
		{"blockDeviceMapping", obj{}},
		{"monitoring", obj{{"enabled", false}}},
		{"disableApiTermination", false},
	}
	item := obj{
		{"instanceId", id},
		{"imageId", ami},
		{"instanceState", obj{{"code", 0}, {"name", "pending"}}},
		{"privateDnsName", "ip-10-0-" + strconv.Itoa(c.r.IntN(255)) + "-" + strconv.Itoa(c.r.IntN(255)) + "." + c.region + ".compute.internal"},
	}
	if marketplaceAMI {
		code := c.w.products[c.productIndex()].code
		item = append(item, kv{"productCodes", obj{{"items", arr{obj{{"productCode", code}, {"type", "marketplace"}}}}}})
	}
	x.Resp = obj{
		{"requestId", x.RequestID},
		{"reservationId", "r-0" + randStr(c.r, hexChars, 16)},
		{"ownerId", c.acct.id},
		{"groupSet", obj{}},
		{"instancesSet", obj{{"items", arr{item}}}},
	}
	if marketplaceAMI {
		return x.decoy(reasonAMI)
	}
	return x.noise()
}

func describeSecurityGroups(c *ctx) event {
	x := c.newRec("ec2.amazonaws.com", "DescribeSecurityGroups")
	c.anyCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"securityGroupSet", obj{}}, {"securityGroupIdSet", obj{{"items", arr{obj{{"groupId", "sg-0" + randStr(c.r, hexChars, 16)}}}}}}, {"filterSet", obj{}}}
	return x.noise()
}

// getObject is an S3 data event; key "" picks an ordinary key.
func getObject(c *ctx, key string) event {
	x := c.newRec("s3.amazonaws.com", "GetObject")
	c.automation(x)
	bucket := "app-data-" + c.acct.id
	reason := ""
	if key == "" {
		key = pick(c.r, []string{"exports/", "tmp/", "assets/", "backups/"}) + randStr(c.r, lowerChars, 12) + pick(c.r, []string{".json", ".parquet", ".png", ".tar.gz"})
	} else {
		bucket = "finance-" + c.acct.id
		reason = reasonS3Key
	}
	x.ReadOnly = true
	x.RequestID = randStr(c.r, "0123456789ABCDEF", 16)
	x.Management = false
	x.Category = "Data"
	x.Req = obj{{"bucketName", bucket}, {"Host", bucket + ".s3." + c.region + ".amazonaws.com"}, {"key", key}}
	x.Resp = nil
	x.Additional = obj{
		{"SignatureVersion", "SigV4"},
		{"CipherSuite", "TLS_AES_128_GCM_SHA256"},
		{"bytesTransferredIn", 0},
		{"AuthenticationMethod", "AuthHeader"},
		{"x-amz-id-2", randStr(c.r, b64Chars, 76)},
		{"bytesTransferredOut", 100 + c.r.IntN(5_000_000)},
	}
	x.Resources = arr{
		obj{{"type", "AWS::S3::Object"}, {"ARN", "arn:aws:s3:::" + bucket + "/" + key}},
		obj{{"accountId", c.acct.id}, {"type", "AWS::S3::Bucket"}, {"ARN", "arn:aws:s3:::" + bucket}},
	}
	if chance(c.r, 0.3) {
		x.VPCEndpointID = "vpce-0" + randStr(c.r, hexChars, 16)
	}
	if reason != "" {
		return x.decoy(reason)
	}
	return x.noise()
}

func listBuckets(c *ctx) event {
	x := c.newRec("s3.amazonaws.com", "ListBuckets")
	c.anyCaller(x)
	x.ReadOnly = true
	x.RequestID = randStr(c.r, "0123456789ABCDEF", 16)
	x.Req = obj{{"Host", "s3." + c.region + ".amazonaws.com"}}
	x.Additional = obj{{"SignatureVersion", "SigV4"}, {"AuthenticationMethod", "AuthHeader"}, {"bytesTransferredIn", 0}, {"bytesTransferredOut", 2000 + c.r.IntN(9000)}}
	return x.noise()
}

func iamRead(c *ctx, name string) event {
	x := c.newRec("iam.amazonaws.com", name)
	c.anyCaller(x)
	x.ReadOnly = true
	if name == "GetUser" {
		x.Req = obj{{"userName", pick(c.r, c.acct.users)}}
	} else {
		x.Req = obj{{"maxItems", 100}}
	}
	return x.noise()
}

func createServiceLinkedRole(c *ctx) event {
	x := c.newRec("iam.amazonaws.com", "CreateServiceLinkedRole")
	c.sso(x)
	const svc = "license-management.marketplace.amazonaws.com"
	x.Req = obj{{"aWSServiceName", svc}}
	x.Resp = obj{{"role", obj{
		{"path", "/aws-service-role/" + svc + "/"},
		{"roleName", "AWSServiceRoleForMarketplaceLicenseManagement"},
		{"roleId", "AROA" + randStr(c.r, upperChars, 17)},
		{"arn", "arn:aws:iam::" + c.acct.id + ":role/aws-service-role/" + svc + "/AWSServiceRoleForMarketplaceLicenseManagement"},
		{"createDate", usageTime(c.t)},
		{"assumeRolePolicyDocument", "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%2C%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22" + svc + "%22%5D%7D%7D%5D%7D"},
	}}}
	return x.decoy(reasonServiceLinkedRole)
}

// assumeRole: invokedBy "" is an ordinary AssumeRole by a service; otherwise the service
// named (a decoy when it is a Marketplace service).
func assumeRole(c *ctx, invokedBy string) event {
	x := c.newRec("sts.amazonaws.com", "AssumeRole")
	svc := invokedBy
	if svc == "" {
		svc = pick(c.r, []string{"lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com", "config.amazonaws.com"})
	}
	c.service(x, svc)
	x.ReadOnly = true
	role := "arn:aws:iam::" + c.acct.id + ":role/service-role/" + pick(c.r, []string{"AppRuntime", "MeteringPublisher", "ConfigRecorder"})
	session := randStr(c.r, mixedChars, 20)
	x.Req = obj{{"roleArn", role}, {"roleSessionName", session}, {"durationSeconds", 900}}
	x.Resp = obj{
		{"credentials", obj{{"accessKeyId", "ASIA" + randStr(c.r, upperChars, 16)}, {"sessionToken", randStr(c.r, b64Chars, 48)}, {"expiration", usageTime(c.t.Add(15 * time.Minute))}}},
		{"assumedRoleUser", obj{{"assumedRoleId", "AROA" + randStr(c.r, upperChars, 17) + ":" + session}, {"arn", role + "/" + session}}},
	}
	x.Resources = arr{obj{{"accountId", c.acct.id}, {"type", "AWS::IAM::Role"}, {"ARN", role}}}
	x.SharedEventID = uuid4(c.r)
	if invokedBy != "" {
		return x.decoy(reasonInvokedBy)
	}
	return x.noise()
}

func getCallerIdentity(c *ctx) event {
	x := c.newRec("sts.amazonaws.com", "GetCallerIdentity")
	c.anyCaller(x)
	x.ReadOnly = true
	return x.noise()
}

func kmsCall(c *ctx, name string) event {
	x := c.newRec("kms.amazonaws.com", name)
	c.service(x, pick(c.r, []string{"s3.amazonaws.com", "secretsmanager.amazonaws.com", "ssm.amazonaws.com"}))
	keyARN := "arn:aws:kms:" + c.region + ":" + c.acct.id + ":key/" + uuid4(c.r)
	x.ReadOnly = name == "Decrypt"
	x.Req = obj{{"encryptionAlgorithm", "SYMMETRIC_DEFAULT"}, {"encryptionContext", obj{{"aws:s3:arn", "arn:aws:s3:::app-data-" + c.acct.id}}}}
	if name == "GenerateDataKey" {
		x.Req = obj{{"keyId", keyARN}, {"keySpec", "AES_256"}}
	}
	x.Resources = arr{obj{{"accountId", c.acct.id}, {"type", "AWS::KMS::Key"}, {"ARN", keyARN}}}
	x.SharedEventID = uuid4(c.r)
	return x.noise()
}

func listFunctions(c *ctx) event {
	x := c.newRec("lambda.amazonaws.com", "ListFunctions20150331")
	c.anyCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"functionVersion", "ALL"}}
	return x.noise()
}

func getParameter(c *ctx) event {
	x := c.newRec("ssm.amazonaws.com", "GetParameter")
	c.automation(x)
	x.ReadOnly = true
	x.Req = obj{{"name", "/app/" + pick(c.r, []string{"prod", "staging"}) + "/" + pick(c.r, []string{"db-url", "feature-flags", "api-endpoint"})}, {"withDecryption", chance(c.r, 0.5)}}
	return x.noise()
}

func describeTrails(c *ctx) event {
	x := c.newRec("cloudtrail.amazonaws.com", "DescribeTrails")
	c.person(x)
	x.ReadOnly = true
	x.Req = obj{{"includeShadowTrails", true}}
	return x.noise()
}

func lookupEvents(c *ctx) event {
	x := c.newRec("cloudtrail.amazonaws.com", "LookupEvents")
	c.person(x)
	x.ReadOnly = true
	x.Req = obj{{"lookupAttributes", arr{obj{{"attributeKey", "EventSource"}, {"attributeValue", srcMetering}}}}, {"maxResults", 50}}
	return x.decoy(reasonLookup)
}

func createLogStream(c *ctx) event {
	x := c.newRec("logs.amazonaws.com", "CreateLogStream")
	c.automation(x)
	x.Req = obj{{"logGroupName", "/aws/lambda/" + pick(c.r, []string{"ingest", "billing-sync", "thumbnailer"})}, {"logStreamName", c.t.UTC().Format("2006/01/02") + "/[$LATEST]" + randStr(c.r, hexChars, 32)}}
	return x.noise()
}

func consoleLogin(c *ctx) event {
	x := c.newRec("signin.amazonaws.com", "ConsoleLogin")
	c.user(x)
	x.UA = consoleAgent
	x.Req = nil
	x.Resp = obj{{"ConsoleLogin", "Success"}}
	x.Additional = obj{{"LoginTo", "https://console.aws.amazon.com/console/home"}, {"MobileVersion", "No"}, {"MFAUsed", "Yes"}}
	x.ReadOnly = nil
	return x.noise()
}

func putRule(c *ctx) event {
	x := c.newRec("events.amazonaws.com", "PutRule")
	c.person(x)
	name := "marketplace-subscription-alerts"
	x.Req = obj{
		{"name", name},
		{"eventPattern", obj{
			{"source", []string{"aws.marketplacecatalog"}},
			{"detail", obj{{"eventSource", srcLegacy}, {"eventName", []string{"Subscribe", "Unsubscribe"}}}},
		}},
		{"state", "ENABLED"},
	}
	x.Resp = obj{{"ruleArn", "arn:aws:events:" + c.region + ":" + c.acct.id + ":rule/" + name}}
	return x.decoy(reasonNestedSource)
}

func checkoutLicense(c *ctx) event {
	p := &c.w.products[c.productIndex()]
	x := c.newRec("license-manager.amazonaws.com", "CheckoutLicense")
	c.automation(x)
	x.Req = obj{
		{"productSKU", p.code},
		{"checkoutType", "PROVISIONAL"},
		{"keyFingerprint", "aws:294406891311:AWS/Marketplace:issuer-fingerprint"},
		{"entitlements", arr{obj{{"name", pick(c.r, p.dims)}, {"unit", "Count"}, {"value", strconv.Itoa(1 + c.r.IntN(20))}}}},
		{"clientToken", uuid4(c.r)},
	}
	x.Resp = obj{{"checkoutType", "PROVISIONAL"}, {"licenseConsumptionToken", "HIDDEN_DUE_TO_SECURITY_REASONS"}, {"issuedAt", usageTime(c.t)}}
	return x.decoy(reasonLicense)
}
