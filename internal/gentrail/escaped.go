package gentrail

import (
	"net/url"
	"strconv"
	"strings"
)

// Escaped noise: the calls of IAM, CloudFormation, SSM, Lambda and EventBridge that log
// documents as JSON text inside the record (a policy document, a template, a parameter's
// value), so that a quote is written \" and a newline \n, and JSON text inside such text
// (a state machine in a template, a JSON value in a Lambda's environment) has its quotes
// written \\\". Real trails carry them (IAM PutUserPolicy, UpdateAssumeRolePolicy, ECR
// SetRepositoryPolicy and PutImage log their documents so, compact or pretty-printed with
// tabs or spaces, as the caller wrote them); a JSON scanner spends its slow path on them.
// Config.EscapedNoise says how many noise records are of these shapes; none are by default.

// escapedTemplates are the noise shapes with escaped payloads.
var escapedTemplates = []template{
	{"iam/PutRolePolicy", "iam.amazonaws.com", "PutRolePolicy", true, 5, putRolePolicy},
	{"iam/CreatePolicy", "iam.amazonaws.com", "CreatePolicy", true, 2, createPolicy},
	{"iam/CreateRole", "iam.amazonaws.com", "CreateRole", true, 2, createRole},
	{"cloudformation/CreateStack", "cloudformation.amazonaws.com", "CreateStack", false, 3, func(c *ctx) event { return stackCall(c, "CreateStack") }},
	{"cloudformation/UpdateStack", "cloudformation.amazonaws.com", "UpdateStack", false, 5, func(c *ctx) event { return stackCall(c, "UpdateStack") }},
	{"ssm/PutParameter", "ssm.amazonaws.com", "PutParameter", false, 4, putParameter},
	{"ssm/CreateDocument", "ssm.amazonaws.com", "CreateDocument", false, 1, createDocument},
	{"ssm/SendCommand", "ssm.amazonaws.com", "SendCommand", false, 1, sendCommand},
	{"lambda/UpdateFunctionConfiguration20150331v2", "lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", false, 3, updateFunctionConfiguration},
	{"events/PutRule", "events.amazonaws.com", "PutRule", false, 1, putRuleText},
}

// How a document is laid out as text: as an SDK or Terraform sends it, as typed in the
// console's editor, or as a CloudFormation template is written.
const (
	layoutCompact = iota
	layoutTabs
	layoutSpaces
	numLayouts
)

// docText returns v as JSON text in the given layout.
func docText(v any, layout int) string {
	switch layout {
	case layoutTabs:
		return string(appendPretty(nil, v, "\t", "", ": "))
	case layoutSpaces:
		return string(appendPretty(nil, v, "  ", "", ": "))
	}
	return jsonText(v)
}

// appendPretty appends v's JSON encoding, one member or element a line, indented.
func appendPretty(b []byte, v any, indent, prefix, colon string) []byte {
	inner := prefix + indent
	switch x := v.(type) {
	case obj:
		if len(x) == 0 {
			return appendJSON(b, v)
		}
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '\n')
			b = append(b, inner...)
			b = appendString(b, m.k)
			b = append(b, colon...)
			b = appendPretty(b, m.v, indent, inner, colon)
		}
		b = append(b, '\n')
		b = append(b, prefix...)
		return append(b, '}')
	case arr:
		if len(x) == 0 {
			return appendJSON(b, v)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '\n')
			b = append(b, inner...)
			b = appendPretty(b, e, indent, inner, colon)
		}
		b = append(b, '\n')
		b = append(b, prefix...)
		return append(b, ']')
	}
	return appendJSON(b, v)
}

var (
	s3Actions     = []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "s3:GetBucketLocation", "s3:AbortMultipartUpload"}
	dataActions   = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sns:Publish"}
	opsActions    = []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey", "ssm:GetParameter", "ssm:GetParametersByPath", "secretsmanager:GetSecretValue"}
	appNames      = []string{"ingest", "billing-sync", "thumbnailer", "orders-api", "report-builder", "etl-nightly"}
	stageNames    = []string{"prod", "staging", "dev"}
	policyPurpose = []string{"DataAccess", "LogsAndKeys", "QueueWorker", "ReadOnlyExports", "DeployArtifacts"}
)

// statement returns one IAM policy statement on the account's resources.
func (c *ctx) statement(sid bool) obj {
	var acts []string
	pool := pick(c.r, [][]string{s3Actions, dataActions, opsActions})
	for _, a := range pool {
		if chance(c.r, 0.5) {
			acts = append(acts, a)
		}
	}
	if len(acts) == 0 {
		acts = append(acts, pool[0])
	}
	app := pick(c.r, appNames)
	var res []string
	switch {
	case strings.HasPrefix(acts[0], "s3:"):
		res = []string{"arn:aws:s3:::app-data-" + c.acct.id, "arn:aws:s3:::app-data-" + c.acct.id + "/" + app + "/*"}
	case strings.HasPrefix(acts[0], "logs:"):
		res = []string{"arn:aws:logs:" + c.region + ":" + c.acct.id + ":log-group:/aws/lambda/" + app + ":*"}
	default:
		res = []string{"arn:aws:" + strings.SplitN(acts[0], ":", 2)[0] + ":" + c.region + ":" + c.acct.id + ":" + app + "-" + pick(c.r, stageNames)}
	}
	var st obj
	if sid {
		st = append(st, kv{"Sid", "Allow" + strings.ToUpper(app[:1]) + strings.ReplaceAll(app[1:], "-", "") + strconv.Itoa(c.r.IntN(100))})
	}
	st = append(st, kv{"Effect", "Allow"}, kv{"Action", acts}, kv{"Resource", res})
	if chance(c.r, 0.3) {
		st = append(st, kv{"Condition", obj{{"StringEquals", obj{{"aws:PrincipalTag/team", app}, {"aws:RequestedRegion", c.region}}}}})
	}
	return st
}

// policyDocument returns an identity policy of 2 to 6 statements.
func (c *ctx) policyDocument() obj {
	sid := chance(c.r, 0.6)
	n := 2 + c.r.IntN(5)
	sts := make(arr, n)
	for i := range sts {
		sts[i] = c.statement(sid)
	}
	return obj{{"Version", "2012-10-17"}, {"Statement", sts}}
}

// trustPolicy returns a role's trust policy for a service, or for a GitHub OIDC provider.
func (c *ctx) trustPolicy() obj {
	if chance(c.r, 0.3) {
		return obj{{"Version", "2012-10-17"}, {"Statement", arr{obj{
			{"Effect", "Allow"},
			{"Principal", obj{{"Federated", "arn:aws:iam::" + c.acct.id + ":oidc-provider/token.actions.githubusercontent.com"}}},
			{"Action", "sts:AssumeRoleWithWebIdentity"},
			{"Condition", obj{
				{"StringEquals", obj{{"token.actions.githubusercontent.com:aud", "sts.amazonaws.com"}}},
				{"StringLike", obj{{"token.actions.githubusercontent.com:sub", "repo:example-org/" + pick(c.r, appNames) + ":ref:refs/heads/main"}}},
			}},
		}}}}
	}
	svc := pick(c.r, []string{"lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com", "states.amazonaws.com"})
	return obj{{"Version", "2012-10-17"}, {"Statement", arr{obj{{"Effect", "Allow"}, {"Principal", obj{{"Service", svc}}}, {"Action", "sts:AssumeRole"}}}}}
}

func (c *ctx) iamWriter(x *rec) {
	if chance(c.r, 0.6) {
		c.automation(x)
	} else {
		c.person(x)
	}
}

func (c *ctx) roleName() string {
	return pick(c.r, appNames) + "-" + pick(c.r, stageNames) + "-" + pick(c.r, []string{"role", "exec", "task"})
}

func putRolePolicy(c *ctx) event {
	x := c.newRec("iam.amazonaws.com", "PutRolePolicy")
	c.iamWriter(x)
	x.Req = obj{
		{"roleName", c.roleName()},
		{"policyName", pick(c.r, policyPurpose)},
		{"policyDocument", docText(c.policyDocument(), c.r.IntN(numLayouts))},
	}
	return x.noise()
}

func createPolicy(c *ctx) event {
	x := c.newRec("iam.amazonaws.com", "CreatePolicy")
	c.iamWriter(x)
	name := pick(c.r, appNames) + "-" + pick(c.r, policyPurpose)
	x.Req = obj{
		{"policyName", name},
		{"policyDocument", docText(c.policyDocument(), c.r.IntN(numLayouts))},
		{"description", "Managed by " + pick(c.r, []string{"Terraform", "CloudFormation", "the platform team"})},
	}
	created := usageTime(c.t)
	x.Resp = obj{{"policy", obj{
		{"policyName", name},
		{"policyId", "ANPA" + randStr(c.r, upperChars, 17)},
		{"arn", "arn:aws:iam::" + c.acct.id + ":policy/" + name},
		{"path", "/"},
		{"defaultVersionId", "v1"},
		{"attachmentCount", 0},
		{"permissionsBoundaryUsageCount", 0},
		{"isAttachable", true},
		{"createDate", created},
		{"updateDate", created},
	}}}
	return x.noise()
}

func createRole(c *ctx) event {
	x := c.newRec("iam.amazonaws.com", "CreateRole")
	c.iamWriter(x)
	name := c.roleName()
	trust := c.trustPolicy()
	x.Req = obj{
		{"roleName", name},
		{"assumeRolePolicyDocument", docText(trust, c.r.IntN(numLayouts))},
		{"description", "Execution role of " + name},
		{"maxSessionDuration", 3600},
	}
	x.Resp = obj{{"role", obj{
		{"path", "/"},
		{"roleName", name},
		{"roleId", "AROA" + randStr(c.r, upperChars, 17)},
		{"arn", "arn:aws:iam::" + c.acct.id + ":role/" + name},
		{"createDate", usageTime(c.t)},
		// The response gives the trust policy URL-encoded, as IAM's API returns it.
		{"assumeRolePolicyDocument", url.QueryEscape(jsonText(trust))},
	}}}
	return x.noise()
}

// lambdaSource is a small Python handler, inline in a template (Code.ZipFile).
func (c *ctx) lambdaSource(app string) string {
	return strings.Join([]string{
		"import json",
		"import os",
		"import boto3",
		"",
		"s3 = boto3.client(\"s3\")",
		"",
		"def handler(event, context):",
		"    bucket = os.environ[\"BUCKET\"]",
		"    for record in event.get(\"Records\", []):",
		"        body = json.loads(record[\"body\"])",
		"        key = \"" + app + "/\" + body[\"id\"] + \".json\"",
		"        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body))",
		"    return {\"statusCode\": 200, \"body\": json.dumps({\"ok\": True, \"count\": " + strconv.Itoa(c.r.IntN(50)) + "})}",
		"",
	}, "\n")
}

// stateMachine is a Step Functions definition, which a template carries as JSON text.
func (c *ctx) stateMachine(fnARN string) obj {
	return obj{
		{"Comment", "Runs the " + pick(c.r, appNames) + " job"},
		{"StartAt", "Invoke"},
		{"States", obj{
			{"Invoke", obj{
				{"Type", "Task"},
				{"Resource", "arn:aws:states:::lambda:invoke"},
				{"Parameters", obj{{"FunctionName", fnARN}, {"Payload.$", "$"}}},
				{"Retry", arr{obj{{"ErrorEquals", []string{"States.TaskFailed"}}, {"IntervalSeconds", 2}, {"MaxAttempts", 3}, {"BackoffRate", 2}}}},
				{"Next", "Done"},
			}},
			{"Done", obj{{"Type", "Succeed"}}},
		}},
	}
}

// template returns a CloudFormation template: a queue, a function with inline code, its
// role with an inline policy, a parameter whose value is JSON text and, sometimes, a state
// machine whose definition is JSON text.
func (c *ctx) cfnTemplate(app, stage string) obj {
	fn := app + "-" + stage
	fnARN := "arn:aws:lambda:" + c.region + ":" + c.acct.id + ":function:" + fn
	res := obj{
		{"Queue", obj{{"Type", "AWS::SQS::Queue"}, {"Properties", obj{{"QueueName", fn + "-in"}, {"VisibilityTimeout", 60 + 30*c.r.IntN(10)}}}}},
		{"Role", obj{{"Type", "AWS::IAM::Role"}, {"Properties", obj{
			{"AssumeRolePolicyDocument", obj{{"Version", "2012-10-17"}, {"Statement", arr{obj{{"Effect", "Allow"}, {"Principal", obj{{"Service", "lambda.amazonaws.com"}}}, {"Action", "sts:AssumeRole"}}}}}},
			{"Policies", arr{obj{{"PolicyName", "inline"}, {"PolicyDocument", c.policyDocument()}}}},
		}}}},
		{"Function", obj{{"Type", "AWS::Lambda::Function"}, {"Properties", obj{
			{"FunctionName", fn},
			{"Runtime", pick(c.r, []string{"python3.11", "python3.12"})},
			{"Handler", "index.handler"},
			{"Role", obj{{"Fn::GetAtt", []string{"Role", "Arn"}}}},
			{"Timeout", 30},
			{"Code", obj{{"ZipFile", c.lambdaSource(app)}}},
			{"Environment", obj{{"Variables", obj{{"BUCKET", "app-data-" + c.acct.id}, {"STAGE", stage}}}}},
		}}}},
		{"Settings", obj{{"Type", "AWS::SSM::Parameter"}, {"Properties", obj{
			{"Name", "/app/" + stage + "/" + app + "/settings"},
			{"Type", "String"},
			{"Value", jsonText(c.appSettings())},
		}}}},
	}
	for i := 1; i < 1+c.r.IntN(3); i++ {
		other := pick(c.r, appNames)
		res = append(res, kv{"Function" + strconv.Itoa(i+1), obj{{"Type", "AWS::Lambda::Function"}, {"Properties", obj{
			{"FunctionName", fn + "-" + other},
			{"Runtime", "python3.12"},
			{"Handler", "index.handler"},
			{"Role", obj{{"Fn::GetAtt", []string{"Role", "Arn"}}}},
			{"Code", obj{{"ZipFile", c.lambdaSource(other)}}},
			{"Environment", obj{{"Variables", obj{{"APP_CONFIG", jsonText(c.appSettings())}}}}},
		}}}})
	}
	{
		res = append(res, kv{"StateMachine", obj{{"Type", "AWS::StepFunctions::StateMachine"}, {"Properties", obj{
			{"RoleArn", obj{{"Fn::GetAtt", []string{"Role", "Arn"}}}},
			{"DefinitionString", docText(c.stateMachine(fnARN), layoutSpaces)},
		}}}})
	}
	return obj{
		{"AWSTemplateFormatVersion", "2010-09-09"},
		{"Description", app + " (" + stage + ")"},
		{"Parameters", obj{{"Stage", obj{{"Type", "String"}, {"Default", stage}}}}},
		{"Resources", res},
		{"Outputs", obj{{"QueueUrl", obj{{"Value", obj{{"Ref", "Queue"}}}}}}},
	}
}

// appSettings is an application's settings object, stored as JSON text in a parameter or
// an environment variable.
func (c *ctx) appSettings() obj {
	return obj{
		{"endpoint", "https://" + pick(c.r, appNames) + "." + pick(c.r, stageNames) + ".internal.example.com"},
		{"timeoutMs", 500 * (1 + c.r.IntN(20))},
		{"retries", c.r.IntN(5)},
		{"features", obj{{"newPricing", chance(c.r, 0.5)}, {"batchUpload", chance(c.r, 0.5)}, {"auditLog", true}}},
		{"queues", []string{"orders-" + randStr(c.r, lowerChars, 6), "events-" + randStr(c.r, lowerChars, 6)}},
		{"routes", c.routes()},
		{"limits", obj{{"maxBatch", 10 * (1 + c.r.IntN(10))}, {"ratePerSecond", 50 * (1 + c.r.IntN(20))}, {"burst", 100}}},
	}
}

// routes returns an API's routes, as an application's settings list them.
func (c *ctx) routes() arr {
	paths := []string{"/v1/orders", "/v1/orders/{id}", "/v1/customers/{id}", "/v1/invoices", "/v1/health", "/v1/reports/{name}"}
	n := 2 + c.r.IntN(4)
	rs := make(arr, n)
	for i := range rs {
		rs[i] = obj{
			{"path", paths[(i+c.r.IntN(2))%len(paths)]},
			{"method", pick(c.r, []string{"GET", "POST", "PUT", "DELETE"})},
			{"auth", pick(c.r, []string{"iam", "jwt", "none"})},
			{"timeoutMs", 1000 * (1 + c.r.IntN(10))},
		}
	}
	return rs
}

func stackCall(c *ctx, name string) event {
	x := c.newRec("cloudformation.amazonaws.com", name)
	c.iamWriter(x)
	app, stage := pick(c.r, appNames), pick(c.r, stageNames)
	stack := app + "-" + stage
	layout := pick(c.r, []int{layoutSpaces, layoutSpaces, layoutTabs, layoutCompact})
	x.Req = obj{
		{"stackName", stack},
		{"templateBody", docText(c.cfnTemplate(app, stage), layout)},
		{"parameters", arr{obj{{"parameterKey", "Stage"}, {"parameterValue", stage}}}},
		{"capabilities", []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}},
		{"tags", arr{obj{{"key", "app"}, {"value", app}}, obj{{"key", "stage"}, {"value", stage}}}},
	}
	x.Resp = obj{{"stackId", "arn:aws:cloudformation:" + c.region + ":" + c.acct.id + ":stack/" + stack + "/" + uuid4(c.r)}}
	return x.noise()
}

func putParameter(c *ctx) event {
	x := c.newRec("ssm.amazonaws.com", "PutParameter")
	c.automation(x)
	stage, app := pick(c.r, stageNames), pick(c.r, appNames)
	x.Req = obj{
		{"name", "/app/" + stage + "/" + app + "/settings"},
		{"type", "String"},
		{"value", docText(c.appSettings(), c.r.IntN(numLayouts))},
		{"overwrite", true},
		{"tier", "Standard"},
		{"dataType", "text"},
	}
	x.Resp = obj{{"version", 1 + c.r.IntN(40)}, {"tier", "Standard"}}
	return x.noise()
}

// createDocument logs an SSM document's content as JSON text; its shell lines quote.
func createDocument(c *ctx) event {
	x := c.newRec("ssm.amazonaws.com", "CreateDocument")
	c.person(x)
	app := pick(c.r, appNames)
	content := obj{
		{"schemaVersion", "2.2"},
		{"description", "Restart " + app + " and report its health"},
		{"parameters", obj{{"service", obj{{"type", "String"}, {"default", app}}}}},
		{"mainSteps", arr{obj{
			{"action", "aws:runShellScript"},
			{"name", "restart"},
			{"inputs", obj{{"runCommand", []string{
				"systemctl restart \"{{ service }}\"",
				"curl -s -X POST -H \"Content-Type: application/json\" -d '{\"service\": \"{{ service }}\", \"status\": \"restarted\"}' http://localhost:8080/health",
			}}}},
		}}},
	}
	name := app + "-restart-" + randStr(c.r, lowerChars, 4)
	x.Req = obj{{"content", docText(content, c.r.IntN(numLayouts))}, {"name", name}, {"documentType", "Command"}, {"documentFormat", "JSON"}}
	x.Resp = obj{{"documentDescription", obj{{"name", name}, {"documentType", "Command"}, {"documentFormat", "JSON"}, {"status", "Creating"}, {"documentVersion", "1"}}}}
	return x.noise()
}

// sendCommand is as CloudTrail logs it: the parameters are hidden, so nothing is escaped.
func sendCommand(c *ctx) event {
	x := c.newRec("ssm.amazonaws.com", "SendCommand")
	c.automation(x)
	ids := []string{c.instanceID(), c.instanceID()}
	x.Req = obj{{"instanceIds", ids}, {"documentName", "AWS-RunShellScript"}, {"parameters", "HIDDEN_DUE_TO_SECURITY_REASONS"}, {"interactive", false}}
	x.Resp = obj{{"command", obj{
		{"commandId", uuid4(c.r)},
		{"documentName", "AWS-RunShellScript"},
		{"instanceIds", ids},
		{"parameters", "HIDDEN_DUE_TO_SECURITY_REASONS"},
		{"status", "Pending"},
		{"targetCount", len(ids)},
	}}}
	return x.noise()
}

func updateFunctionConfiguration(c *ctx) event {
	x := c.newRec("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2")
	c.automation(x)
	fn := pick(c.r, appNames) + "-" + pick(c.r, stageNames)
	vars := obj{
		{"APP_CONFIG", jsonText(c.appSettings())},
		{"ROUTES", jsonText(c.routes())},
		{"FEATURE_FLAGS", jsonText(obj{{"newPricing", chance(c.r, 0.5)}, {"batchUpload", chance(c.r, 0.5)}, {"regions", []string{c.region, homeRegion}}})},
		{"LOG_LEVEL", pick(c.r, []string{"INFO", "DEBUG", "WARN"})},
	}
	x.Req = obj{{"functionName", fn}, {"environment", obj{{"variables", vars}}}, {"timeout", 30}, {"memorySize", 128 << c.r.IntN(4)}}
	x.Resp = obj{
		{"functionName", fn},
		{"functionArn", "arn:aws:lambda:" + c.region + ":" + c.acct.id + ":function:" + fn},
		{"runtime", "python3.12"},
		{"handler", "index.handler"},
		{"environment", obj{{"variables", vars}}},
		{"lastUpdateStatus", "InProgress"},
		{"revisionId", uuid4(c.r)},
	}
	return x.noise()
}

// putRuleText is an EventBridge rule whose pattern is JSON text, as the API takes it.
func putRuleText(c *ctx) event {
	x := c.newRec("events.amazonaws.com", "PutRule")
	c.iamWriter(x)
	name := pick(c.r, appNames) + "-" + pick(c.r, []string{"on-upload", "on-failure", "nightly"})
	pattern := obj{
		{"source", []string{pick(c.r, []string{"aws.s3", "aws.ecs", "aws.codebuild"})}},
		{"detail-type", []string{pick(c.r, []string{"Object Created", "ECS Task State Change", "CodeBuild Build State Change"})}},
		{"detail", obj{{"status", []string{"FAILED", "STOPPED"}}}},
	}
	x.Req = obj{{"name", name}, {"eventPattern", docText(pattern, c.r.IntN(numLayouts))}, {"state", "ENABLED"}}
	x.Resp = obj{{"ruleArn", "arn:aws:events:" + c.region + ":" + c.acct.id + ":rule/" + name}}
	return x.noise()
}
