package main

// Tests of docs/operations.md and docs/examples/: the examples parse, the Kubernetes objects
// have the fields the page relies on, every `marketrail run` they contain uses real flags and
// passes runOptions.config, and the IAM policy grants exactly the calls the code makes.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/marketrail/marketrail/pkg/pipeline"
)

const (
	docsDir        = "../../docs"
	operationsDoc  = docsDir + "/operations.md"
	examplesDir    = docsDir + "/examples"
	iamPolicyFile  = examplesDir + "/iam-policy.json"
	lifecycleFile  = examplesDir + "/s3-lifecycle-abort-multipart.json"
	ecsTaskFile    = examplesDir + "/ecs-task-definition.json"
	scheduleFile   = examplesDir + "/eventbridge-schedule.json"
	cronJobFile    = examplesDir + "/cronjob-nightly.yaml"
	indexedJobFile = examplesDir + "/indexed-job-backfill.yaml"
)

// docsNow is the fixed "now" the documented commands are checked at.
var docsNow = time.Date(2024, 6, 15, 3, 0, 0, 0, time.UTC)

// runArgProblems checks one documented `marketrail run` argument list (without "run")
// against the real flag set and runOptions.config, as runCommand would, and returns the
// resulting configuration and what is wrong. env is the environment the command is shown
// with; a --shards command gets JOB_COMPLETION_INDEX=0 unless env sets it.
func runArgProblems(args []string, env map[string]string) (pipeline.Config, []string) {
	var o runOptions
	var problems []string
	fs := flag.NewFlagSet("marketrail run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	for _, a := range args {
		if a == "-" || !strings.HasPrefix(a, "-") {
			continue
		}
		if !strings.HasPrefix(a, "--") {
			problems = append(problems, fmt.Sprintf("%q: the docs write flags as --name", a))
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(name) == nil {
			problems = append(problems, "marketrail run has no flag --"+name)
		}
	}
	if err := fs.Parse(args); err != nil {
		return pipeline.Config{}, append(problems, err.Error())
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	getenv := func(name string) string {
		if v, ok := env[name]; ok {
			return v
		}
		if name == "JOB_COMPLETION_INDEX" && o.shards > 0 {
			return "0"
		}
		return ""
	}
	cfg, err := o.config(docsNow, getenv)
	if err != nil {
		problems = append(problems, err.Error())
	}
	return cfg, problems
}

// checkRunArgs reports runArgProblems as test errors.
func checkRunArgs(t *testing.T, where string, args []string, env map[string]string) pipeline.Config {
	t.Helper()
	cfg, problems := runArgProblems(args, env)
	for _, p := range problems {
		t.Errorf("%s: %s\n  args: %q", where, p, args)
	}
	return cfg
}

// TestDocsRunArgsCheckCanFail makes sure the check catches mistakes: a misspelled flag, a
// single dash, a bad date, a stray argument, --shards without an index.
func TestDocsRunArgsCheckCanFail(t *testing.T) {
	good := []string{"--source", "s3://my-cloudtrail-bucket", "--dest", "s3://my-lake/marketplace"}
	if _, problems := runArgProblems(good, nil); len(problems) > 0 {
		t.Errorf("good arguments %q rejected: %v", good, problems)
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"misspelled flag": {args: append(slices.Clone(good), "--look-back", "2")},
		"single dash":     {args: append(slices.Clone(good), "-force")},
		"bad date":        {args: append(slices.Clone(good), "--from", "2023-13-01")},
		"stray argument":  {args: append(slices.Clone(good), "extra")},
		"no shard index":  {args: append(slices.Clone(good), "--shards", "4"), env: map[string]string{"JOB_COMPLETION_INDEX": ""}},
	} {
		if _, problems := runArgProblems(c.args, c.env); len(problems) == 0 {
			t.Errorf("%s: %q was accepted", name, c.args)
		}
	}
}

// block is a fenced code block of a Markdown file.
type block struct {
	lang, body string
	line       int // of the opening fence
}

func fencedBlocks(doc string) []block {
	var out []block
	var cur *block
	for i, l := range strings.Split(doc, "\n") {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		switch {
		case fence && cur == nil:
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "```")), line: i + 1}
		case fence:
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += l + "\n"
		}
	}
	return out
}

// shellWords splits one logical shell line into words: quotes and backslashes as a shell
// reads them, and the command ends at an unquoted |, ;, &, <, > or a comment. A file
// descriptor number before a redirection (2>) is dropped.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+j])
			inWord, i = true, i+1+j
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				w.WriteByte(line[i])
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words
		case strings.IndexByte("|;&<>", c) >= 0:
			if (c == '<' || c == '>') && inWord {
				if _, err := strconv.Atoi(w.String()); err == nil {
					w.Reset()
					inWord = false
				}
			}
			flush()
			return words
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// runCmd is one `marketrail run` found in a document.
type runCmd struct {
	where string
	args  []string          // after "run"
	env   map[string]string // NAME=VALUE words before the command
}

// isMarketrail reports whether a word names the marketrail binary or its image.
func isMarketrail(word string) bool {
	base := path.Base(word)
	return base == "marketrail" || strings.HasPrefix(base, "marketrail:")
}

var envWord = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)

// runCommands finds every `marketrail run ...` in the code blocks of a Markdown document,
// joining lines continued with a backslash.
func runCommands(name, doc string) []runCmd {
	var out []runCmd
	for _, b := range fencedBlocks(doc) {
		lines := strings.Split(b.body, "\n")
		for i := 0; i < len(lines); i++ {
			start := i
			logical := lines[i]
			for strings.HasSuffix(logical, "\\") && i+1 < len(lines) {
				i++
				logical = strings.TrimSuffix(logical, "\\") + " " + lines[i]
			}
			words := shellWords(strings.TrimPrefix(strings.TrimSpace(logical), "$ "))
			for j := 1; j < len(words); j++ {
				if words[j] != "run" || !isMarketrail(words[j-1]) {
					continue
				}
				env := map[string]string{}
				for _, w := range words[:j-1] {
					if envWord.MatchString(w) {
						k, v, _ := strings.Cut(w, "=")
						env[k] = v
					}
				}
				out = append(out, runCmd{
					where: name + ":" + strconv.Itoa(b.line+1+start),
					args:  words[j+1:],
					env:   env,
				})
				break
			}
		}
	}
	return out
}

func TestDocsShellWords(t *testing.T) {
	for line, want := range map[string][]string{
		`marketrail run --from 2024-01-01 > out.json`:          {"marketrail", "run", "--from", "2024-01-01"},
		`marketrail run --report "s3://a/b c.json" 2> err.log`: {"marketrail", "run", "--report", "s3://a/b c.json"},
		`X=1 marketrail run --force # comment`:                 {"X=1", "marketrail", "run", "--force"},
		`marketrail run --source 'it''s' | jq .`:               {"marketrail", "run", "--source", "its"},
	} {
		if got := shellWords(line); !slices.Equal(got, want) {
			t.Errorf("shellWords(%q) = %q, want %q", line, got, want)
		}
	}
	doc := "```sh\nJOB_COMPLETION_INDEX=3 marketrail run --source s \\\n    --dest d --shards 4\ndocker run --rm img run --x\n```\n"
	cmds := runCommands("doc", doc)
	if len(cmds) != 1 || !slices.Equal(cmds[0].args, []string{"--source", "s", "--dest", "d", "--shards", "4"}) ||
		cmds[0].env["JOB_COMPLETION_INDEX"] != "3" || cmds[0].where != "doc:2" {
		t.Errorf("runCommands found %+v", cmds)
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsOperationsCommands: every `marketrail run` in docs/operations.md uses real flags
// and valid arguments.
func TestDocsOperationsCommands(t *testing.T) {
	cmds := runCommands("docs/operations.md", readDoc(t, operationsDoc))
	if len(cmds) < 8 {
		t.Fatalf("found only %d `marketrail run` commands in docs/operations.md; has the page or the extraction changed?", len(cmds))
	}
	for _, c := range cmds {
		checkRunArgs(t, c.where, c.args, c.env)
	}
}

// TestDocsOperationsJSON: every JSON block of docs/operations.md parses, and the lifecycle
// rule it shows is the one in docs/examples/.
func TestDocsOperationsJSON(t *testing.T) {
	var lifecycle any
	decodeJSON(t, lifecycleFile, &lifecycle)
	found := false
	for _, b := range fencedBlocks(readDoc(t, operationsDoc)) {
		if b.lang != "json" {
			continue
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(b.body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Errorf("docs/operations.md:%d: %v", b.line, err)
			continue
		}
		if reflect.DeepEqual(v, lifecycle) {
			found = true
		}
	}
	if !found {
		t.Errorf("docs/operations.md does not show the lifecycle rule of %s", lifecycleFile)
	}
}

// TestDocsOperationsLinks: the page's relative links lead to files that exist, and every
// example is linked from it.
func TestDocsOperationsLinks(t *testing.T) {
	doc := readDoc(t, operationsDoc)
	linked := map[string]bool{}
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(doc, -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") {
			continue
		}
		p := filepath.Join(docsDir, filepath.FromSlash(target))
		if _, err := os.Stat(p); err != nil {
			t.Errorf("docs/operations.md links to %s, which does not exist", m[1])
		}
		linked[filepath.Clean(p)] = true
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*"))
	if len(files) == 0 {
		t.Fatal("no files in docs/examples")
	}
	for _, f := range files {
		if !linked[filepath.Clean(f)] {
			t.Errorf("docs/operations.md does not link to %s", f)
		}
	}
	readme := readDoc(t, "../../README.md")
	if !strings.Contains(readme, "(docs/operations.md)") {
		t.Errorf("README.md does not link to docs/operations.md")
	}
}

func decodeJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one JSON value", name)
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		yaml11Booleans(t, name, &n)
		var d map[string]any
		if err := n.Decode(&d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// yaml11Booleans reports unquoted scalars that YAML 1.2 (this parser) reads as strings but
// YAML 1.1 reads as booleans: Kubernetes reads manifests as YAML 1.1, so an unquoted off in
// args would reach it as false.
func yaml11Booleans(t *testing.T, name string, n *yaml.Node) {
	t.Helper()
	if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" {
		switch strings.ToLower(n.Value) {
		case "y", "yes", "n", "no", "on", "off":
			t.Errorf("%s:%d: quote %q: Kubernetes reads YAML 1.1, where it is a boolean", name, n.Line, n.Value)
		}
	}
	for _, c := range n.Content {
		yaml11Booleans(t, name, c)
	}
}

// dig follows keys (map keys, or list indexes written as numbers) into a decoded document.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		switch m := v.(type) {
		case map[string]any:
			v = m[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// runArgLists finds every list in a decoded document whose first element is "run": the
// container arguments of marketrail. Every element must be a string (an unquoted YAML number
// or off would not be).
func runArgLists(t *testing.T, where string, v any) [][]string {
	var out [][]string
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, runArgLists(t, where, x[k])...)
		}
	case []any:
		if len(x) > 0 && x[0] == "run" {
			args := make([]string, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					t.Errorf("%s: argument %d (%v) is a %T, not a string: quote it", where, i, e, e)
				}
				args[i] = s
			}
			return [][]string{args}
		}
		for _, e := range x {
			out = append(out, runArgLists(t, where, e)...)
		}
	}
	return out
}

// TestExamplesParse: every JSON and YAML example parses, and every marketrail argument list in
// them uses real flags and valid arguments. Each file that runs marketrail must have one.
func TestExamplesParse(t *testing.T) {
	jsons, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	yamls, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if len(jsons) < 4 || len(yamls) < 2 {
		t.Fatalf("docs/examples has %d JSON and %d YAML files", len(jsons), len(yamls))
	}
	runs := map[string]int{}
	for _, f := range jsons {
		var v any
		decodeJSON(t, f, &v)
		for _, args := range runArgLists(t, f, v) {
			checkRunArgs(t, f, args[1:], nil)
			runs[filepath.Base(f)]++
		}
	}
	for _, f := range yamls {
		for _, d := range yamlDocs(t, f) {
			for _, args := range runArgLists(t, f, d) {
				checkRunArgs(t, f, args[1:], nil)
				runs[filepath.Base(f)]++
			}
		}
	}
	for _, f := range []string{ecsTaskFile, cronJobFile, indexedJobFile} {
		if runs[filepath.Base(f)] != 1 {
			t.Errorf("%s runs marketrail %d times, want 1", f, runs[filepath.Base(f)])
		}
	}
}

// podChecks checks a pod template's spec: marketrail runs as non-root, with a restart policy
// a Job accepts, a service account that carries an IRSA role, and a writable /tmp (or
// $TMPDIR) when the root filesystem is read-only. It returns the container's arguments.
func podChecks(t *testing.T, where string, spec any, roles map[string]string) []string {
	t.Helper()
	if p := str(dig(spec, "restartPolicy")); p != "Never" && p != "OnFailure" {
		t.Errorf("%s: restartPolicy %q: a Job needs Never or OnFailure", where, p)
	}
	if sa := str(dig(spec, "serviceAccountName")); roles[sa] == "" {
		t.Errorf("%s: service account %q has no eks.amazonaws.com/role-arn in the examples", where, sa)
	}
	containers, _ := dig(spec, "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(containers))
	}
	c := containers[0]
	if dig(spec, "securityContext", "runAsNonRoot") != true && dig(c, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: runAsNonRoot is not set", where)
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") == true {
		tmp := "/tmp"
		envs, _ := dig(c, "env").([]any)
		for _, e := range envs {
			if str(dig(e, "name")) == "TMPDIR" {
				tmp = str(dig(e, "value"))
			}
		}
		mounted := false
		mounts, _ := dig(c, "volumeMounts").([]any)
		for _, m := range mounts {
			mounted = mounted || (str(dig(m, "mountPath")) == tmp && dig(m, "readOnly") != true)
		}
		if !mounted {
			t.Errorf("%s: a read-only root filesystem without a writable volume at %s (marketrail stages Parquet files in $TMPDIR)", where, tmp)
		}
	}
	lists := runArgLists(t, where, dig(c, "args"))
	if len(lists) != 1 {
		t.Fatalf("%s: the container's args are not `run ...`", where)
	}
	return lists[0][1:]
}

// flagValue returns the value of --name in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestExamplesKubernetes: the CronJob and the Indexed Job have the fields docs/operations.md
// relies on.
func TestExamplesKubernetes(t *testing.T) {
	objects := map[string][]map[string]any{} // kind → objects
	roles := map[string]string{}             // service account → IRSA role
	for _, f := range []string{cronJobFile, indexedJobFile} {
		for _, d := range yamlDocs(t, f) {
			kind := str(d["kind"])
			if kind == "" || str(d["apiVersion"]) == "" {
				t.Errorf("%s: a document without kind or apiVersion", f)
			}
			d["_file"] = f
			objects[kind] = append(objects[kind], d)
			if kind == "ServiceAccount" {
				roles[str(dig(d, "metadata", "name"))] = str(dig(d, "metadata", "annotations", "eks.amazonaws.com/role-arn"))
			}
		}
	}
	if len(objects["CronJob"]) != 1 || len(objects["Job"]) != 1 {
		t.Fatalf("want one CronJob and one Job, got %d and %d", len(objects["CronJob"]), len(objects["Job"]))
	}
	for sa, role := range roles {
		if !strings.HasPrefix(role, "arn:aws:iam::") {
			t.Errorf("service account %s: IRSA role %q", sa, role)
		}
	}

	cj := objects["CronJob"][0]
	where := str(cj["_file"])
	if dig(cj, "apiVersion") != "batch/v1" {
		t.Errorf("%s: CronJob apiVersion %v", where, dig(cj, "apiVersion"))
	}
	if fields := strings.Fields(str(dig(cj, "spec", "schedule"))); len(fields) != 5 {
		t.Errorf("%s: schedule %q is not a 5-field cron expression", where, dig(cj, "spec", "schedule"))
	}
	if p := dig(cj, "spec", "concurrencyPolicy"); p != "Forbid" {
		t.Errorf("%s: concurrencyPolicy %v, want Forbid", where, p)
	}
	args := podChecks(t, where, dig(cj, "spec", "jobTemplate", "spec", "template", "spec"), roles)
	if _, ok := flagValue(args, "from"); ok {
		t.Errorf("%s: the nightly run must not fix --from (its window is yesterday and --lookback)", where)
	}
	if r, _ := flagValue(args, "report"); !strings.HasPrefix(r, "s3://") {
		t.Errorf("%s: the nightly run does not write its summary to S3 (--report %q)", where, r)
	}

	job := objects["Job"][0]
	where = str(job["_file"])
	if dig(job, "spec", "completionMode") != "Indexed" {
		t.Errorf("%s: completionMode %v, want Indexed", where, dig(job, "spec", "completionMode"))
	}
	completions, _ := dig(job, "spec", "completions").(int)
	parallelism, _ := dig(job, "spec", "parallelism").(int)
	args = podChecks(t, where, dig(job, "spec", "template", "spec"), roles)
	shards, _ := flagValue(args, "shards")
	n, err := strconv.Atoi(shards)
	if err != nil || n < 2 || completions != n || parallelism != n {
		t.Errorf("%s: completions %d, parallelism %d and --shards %q must be the same number (at least 2)", where, completions, parallelism, shards)
	}
	_, hasFrom := flagValue(args, "from")
	_, hasTo := flagValue(args, "to")
	if !hasFrom || !hasTo {
		t.Errorf("%s: every shard must get the same explicit --from and --to", where)
	}
	for i := range n { // each index is a valid shard
		cfg := checkRunArgs(t, where, args, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i)})
		if cfg.Shard != i || cfg.Shards != n {
			t.Errorf("%s: JOB_COMPLETION_INDEX=%d gives shard %d/%d", where, i, cfg.Shard, cfg.Shards)
		}
	}
}

// TestExamplesECS: the schedule runs the task definition of the example, nightly.
func TestExamplesECS(t *testing.T) {
	var task, sched map[string]any
	decodeJSON(t, ecsTaskFile, &task)
	decodeJSON(t, scheduleFile, &sched)
	family := str(task["family"])
	if family == "" {
		t.Fatalf("%s: no family", ecsTaskFile)
	}
	if u := str(dig(task, "containerDefinitions", "0", "user")); u == "" || strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("%s: the container runs as %q, want the image's non-root user", ecsTaskFile, u)
	}
	if r, _ := flagValue(runArgLists(t, ecsTaskFile, task)[0], "report"); !strings.HasPrefix(r, "s3://") {
		t.Errorf("%s: the nightly run does not write its summary to S3", ecsTaskFile)
	}
	arn := str(dig(sched, "Target", "EcsParameters", "TaskDefinitionArn"))
	if _, name, _ := strings.Cut(arn, ":task-definition/"); strings.Split(name, ":")[0] != family {
		t.Errorf("%s: TaskDefinitionArn %q does not name the task definition family %q", scheduleFile, arn, family)
	}
	if expr := str(sched["ScheduleExpression"]); !strings.HasPrefix(expr, "cron(") {
		t.Errorf("%s: ScheduleExpression %q is not a cron expression", scheduleFile, expr)
	}
	if tz := str(sched["ScheduleExpressionTimezone"]); tz != "UTC" {
		t.Errorf("%s: the schedule's time zone is %q; the window is in UTC", scheduleFile, tz)
	}
	if !strings.Contains(str(dig(sched, "Target", "Arn")), ":cluster/") {
		t.Errorf("%s: the target is not an ECS cluster", scheduleFile)
	}
}

// strings of a JSON value that is a string or a list of strings.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, str(e))
		}
		return out
	}
	return nil
}

// TestExamplesIAMPolicy: the policy grants exactly the S3 actions of the calls marketrail
// makes (ListObjectsV2, GetObject, PutObject, DeleteObject) and kms:Decrypt (kms:GenerateDataKey
// too, for an SSE-KMS lake), no wildcard action, and writes only below a prefix of the lake.
func TestExamplesIAMPolicy(t *testing.T) {
	var policy struct {
		Version   string
		Statement []map[string]any
	}
	decodeJSON(t, iamPolicyFile, &policy)
	if policy.Version != "2012-10-17" || len(policy.Statement) == 0 {
		t.Fatalf("%s: version %q, %d statements", iamPolicyFile, policy.Version, len(policy.Statement))
	}
	s3Actions, kmsActions := map[string]bool{}, map[string]bool{}
	for i, st := range policy.Statement {
		where := iamPolicyFile + " statement " + strconv.Itoa(i) + " (" + str(st["Sid"]) + ")"
		if st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil {
			t.Errorf("%s: only Allow with Action and Resource is expected", where)
		}
		actions, resources := stringList(st["Action"]), stringList(st["Resource"])
		if len(actions) == 0 || len(resources) == 0 {
			t.Errorf("%s: no Action or no Resource", where)
		}
		for _, a := range actions {
			switch {
			case strings.Contains(a, "*"):
				t.Errorf("%s: wildcard action %q", where, a)
			case strings.HasPrefix(a, "s3:"):
				s3Actions[a] = true
			case strings.HasPrefix(a, "kms:"):
				kmsActions[a] = true
				if dig(st, "Condition", "StringEquals", "kms:ViaService") == nil {
					t.Errorf("%s: %s without a kms:ViaService condition", where, a)
				}
			default:
				t.Errorf("%s: unexpected action %q", where, a)
			}
			if a == "s3:PutObject" || a == "s3:DeleteObject" {
				for _, r := range resources {
					bucket, key, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:s3:::"), "/")
					prefix := strings.TrimSuffix(key, "*")
					if strings.Contains(bucket, "cloudtrail") || prefix == "" || !strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "*") {
						t.Errorf("%s: %s on %q: writes belong below a prefix of the lake bucket", where, a, r)
					}
				}
			}
		}
	}
	if want := []string{"s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"}; !slices.Equal(slices.Sorted(maps.Keys(s3Actions)), want) {
		t.Errorf("%s: S3 actions %v, want exactly %v", iamPolicyFile, slices.Sorted(maps.Keys(s3Actions)), want)
	}
	if !kmsActions["kms:Decrypt"] {
		t.Errorf("%s: no kms:Decrypt for an SSE-KMS trail", iamPolicyFile)
	}
	for a := range kmsActions {
		if a != "kms:Decrypt" && a != "kms:GenerateDataKey" {
			t.Errorf("%s: unexpected KMS action %s", iamPolicyFile, a)
		}
	}
}

// TestExamplesLifecycle: the lifecycle rule aborts incomplete multipart uploads after a day.
func TestExamplesLifecycle(t *testing.T) {
	var lc struct {
		Rules []struct {
			ID                             string
			Status                         string
			Filter                         *struct{ Prefix *string }
			AbortIncompleteMultipartUpload *struct{ DaysAfterInitiation int }
		}
	}
	decodeJSON(t, lifecycleFile, &lc)
	if len(lc.Rules) != 1 {
		t.Fatalf("%s: %d rules, want 1", lifecycleFile, len(lc.Rules))
	}
	r := lc.Rules[0]
	if r.ID == "" || r.Status != "Enabled" || r.Filter == nil || r.AbortIncompleteMultipartUpload == nil ||
		r.AbortIncompleteMultipartUpload.DaysAfterInitiation != 1 {
		t.Errorf("%s: %+v is not an enabled rule aborting incomplete uploads after 1 day", lifecycleFile, r)
	}
}
