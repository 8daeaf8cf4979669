package importer

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// formatOf picks the format from a testdata file's name prefix.
func formatOf(t *testing.T, name string) Format {
	for _, f := range Formats {
		if strings.HasPrefix(name, string(f)+"-") {
			return f
		}
	}
	t.Fatalf("%s: no format prefix", name)
	return ""
}

// golden renders a result as its golden file: the YAML stream, then the
// report as YAML comments (so the file itself still applies).
func golden(t *testing.T, name string, res Result) []byte {
	t.Helper()
	out, err := res.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(out)
	b.WriteString("# Unmapped:\n")
	for _, line := range strings.Split(strings.TrimSuffix(res.Report(name), "\n"), "\n") {
		b.WriteString("# " + line + "\n")
	}
	return b.Bytes()
}

// TestGolden converts every example from the source projects'
// documentation and compares with testdata/*.golden (-update rewrites
// them). Each output must parse and check cleanly, as a server would.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(formatOf(t, name), name, data)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			got := golden(t, name, res)
			path := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", path, got)
			}
			checkApplies(t, res)
		})
	}
}

// checkApplies parses the output and checks it against an empty state
// holding only the Services the policies cover that the output lacks
// (an OpenSLO SLO names a Service applied before).
func checkApplies(t *testing.T, res Result) {
	t.Helper()
	out, err := res.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var stubs []byte
	have := map[string]bool{}
	for _, s := range res.Services {
		have[s.Metadata.Name] = true
	}
	for _, p := range res.Policies {
		for _, s := range p.Spec.Services {
			if !have[s] {
				stubs = append(stubs, []byte("---\napiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: "+s+"}\n"+
					"spec: {protocol: http, port: 8080, versions: [{name: v1, endpoints: [{address: \"10.0.0.1:80\"}]}]}\n")...)
			}
		}
	}
	docs, err := config.Parse("out.yaml", append(out, stubs...))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if err := config.Check(docs, emptyCatalog{}); err != nil {
		t.Fatalf("output does not check: %v\n%s", err, out)
	}
}

type emptyCatalog struct{}

func (emptyCatalog) Service(string) (*config.Service, bool)             { return nil, false }
func (emptyCatalog) ReleasePolicy(string) (*config.ReleasePolicy, bool) { return nil, false }
func (emptyCatalog) ServiceNames() []string                             { return nil }
func (emptyCatalog) ReleasePolicyNames() []string                       { return nil }
func (emptyCatalog) Release(string) (*config.Release, bool)             { return nil, false }
func (emptyCatalog) ActiveRelease(string) (string, bool)                { return "", false }
func (emptyCatalog) ReleaseTrain(string) (*config.ReleaseTrain, bool)   { return nil, false }

func importFile(t *testing.T, f Format, name string) Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(f, name, data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// reported returns the reason given for path, or "".
func reported(res Result, path string) string {
	for _, u := range res.Unmapped {
		if u.Path == path {
			return u.Reason
		}
	}
	return ""
}

func TestFlaggerCanaryMapping(t *testing.T) {
	res := importFile(t, FormatFlagger, "flagger-canary.yaml")
	p := res.Policies[0].Spec
	var weights []uint32
	for _, s := range p.Steps {
		weights = append(weights, s.Weight)
		if s.Bake.D() != time.Minute {
			t.Errorf("step %d bakes %v, want the interval 1m", s.Weight, s.Bake.D())
		}
	}
	want := []uint32{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 100}
	if len(weights) != len(want) {
		t.Fatalf("weights %v, want %v", weights, want)
	}
	for i := range want {
		if weights[i] != want[i] {
			t.Fatalf("weights %v, want %v", weights, want)
		}
	}
	if p.Analysis.FailureLimit != 10 || p.Analysis.Interval.D() != time.Minute {
		t.Errorf("analysis %+v: want failureLimit 10 (threshold), interval 1m", p.Analysis)
	}
	if p.SLO == nil || p.SLO.Objective != 99 || p.SLO.Latency == nil || p.SLO.Latency.Threshold.D() != 500*time.Millisecond {
		t.Errorf("SLO %+v: want objective 99 and latency 500ms", p.SLO)
	}
	if reported(res, "Canary/podinfo: spec.analysis.webhooks[0]") == "" {
		t.Errorf("the webhook is not reported: %+v", res.Unmapped)
	}
	if reported(res, "Canary/podinfo: spec.targetRef") == "" {
		t.Errorf("the placeholder endpoints are not reported: %+v", res.Unmapped)
	}
}

func TestFlaggerStepsAreThinnedToTheLimit(t *testing.T) {
	res := importFile(t, FormatFlagger, "flagger-legacy-steps.yaml")
	steps := res.Policies[0].Spec.Steps
	if len(steps) > maxSteps {
		t.Fatalf("%d steps, Sluice allows %d", len(steps), maxSteps)
	}
	var total time.Duration
	for _, s := range steps {
		total += s.Bake.D()
	}
	// 25 Flagger steps of 1m and the promotion: the plan keeps its length
	// within one thinned step.
	if total < 26*time.Minute || total > 28*time.Minute {
		t.Errorf("plan takes %v, want about 26m", total)
	}
	if reported(res, "Canary/podinfo: spec.canaryAnalysis.stepWeight") == "" {
		t.Errorf("thinning not reported: %+v", res.Unmapped)
	}
}

func TestFlaggerABTestBecomesACohort(t *testing.T) {
	res := importFile(t, FormatFlagger, "flagger-ab-testing.yaml")
	p := res.Policies[0].Spec
	if p.Cohorts == nil || len(p.Cohorts.Stages[0].Headers) != 2 {
		t.Fatalf("cohorts %+v: want one stage with the two header matchers", p.Cohorts)
	}
	h := p.Cohorts.Stages[0].Headers
	if h[0].Name != "x-canary" || h[0].Exact != "insider" || h[1].Name != "cookie" || h[1].Regex == "" {
		t.Errorf("headers %+v", h)
	}
	if p.Steps[0].Cohort != abStage || p.Steps[0].Bake.D() != 2*time.Minute {
		t.Errorf("first step %+v: want the stage for iterations × interval", p.Steps[0])
	}
	if reported(res, "Canary/podinfo: spec.analysis.match[2].sourceLabels") == "" {
		t.Errorf("sourceLabels not reported: %+v", res.Unmapped)
	}
}

func TestArgoMapping(t *testing.T) {
	res := importFile(t, FormatArgo, "argo-multiple-templates.yaml")
	p := res.Policies[0].Spec
	if p.SLO == nil || p.SLO.Objective != 95 || !strings.Contains(p.SLO.GoodQuery, `version="{{version}}"`) {
		t.Fatalf("SLO %+v: want the strictest objective 95 with versioned queries", p.SLO)
	}
	if strings.Contains(p.SLO.GoodQuery, "irate") || !strings.Contains(p.SLO.TotalQuery, "[{{window}}]") {
		t.Errorf("queries not rewritten to counts over {{window}}: %q", p.SLO.TotalQuery)
	}
	if p.Analysis.FailureLimit != 4 {
		t.Errorf("failureLimit %d: Argo's 3 tolerated failures make the 4th roll back", p.Analysis.FailureLimit)
	}
	if p.Exposure == nil || p.Exposure.MaxTrafficShare != 40 {
		t.Errorf("exposure %+v: the indefinite pause at 40%% should need approval above 40%%", p.Exposure)
	}
	bakes := map[uint32]time.Duration{}
	for _, s := range p.Steps {
		bakes[s.Weight] = s.Bake.D()
	}
	if bakes[20] != 5*time.Minute || bakes[40] != time.Minute || bakes[60] != 10*time.Second {
		t.Errorf("bakes %v: want the pauses (5m at 20%%, 10s at 60%%) and 1m where there is none", bakes)
	}
	if reported(res, "Rollout/guestbook: spec.strategy.canary.trafficRouting") == "" {
		t.Errorf("trafficRouting not reported: %+v", res.Unmapped)
	}
}

func TestOpenSLOMapping(t *testing.T) {
	res := importFile(t, FormatOpenSLO, "openslo-prometheus.yaml")
	p := res.Policies[0]
	if p.Spec.Services[0] != "foo" || p.Spec.SLO == nil || p.Spec.SLO.Objective != 98 {
		t.Fatalf("policy %+v", p.Spec)
	}
	if !strings.Contains(p.Spec.SLO.TotalQuery, "increase(localhost_server_requests{") {
		t.Errorf("counter not read with increase: %q", p.Spec.SLO.TotalQuery)
	}
	dd := importFile(t, FormatOpenSLO, "openslo-datadog.yaml")
	if dd.Policies[0].Spec.SLO != nil || reported(dd, "SLO/foo-slo: spec.indicator.spec.ratioMetric.total.metricSource.type") == "" {
		t.Errorf("a Datadog SLI must be reported, not converted: %+v", dd.Unmapped)
	}
}

func TestSluiceQuery(t *testing.T) {
	q, err := sluiceQuery(`sum(rate(http_requests_total{job="api",version="x"}[5m]))`)
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(increase(http_requests_total{job="api",version="{{version}}"}[{{window}}]))`
	if q.Template != want {
		t.Errorf("got %s, want %s", q.Template, want)
	}
	if _, err := sluiceQuery(`vector(1)`); err == nil {
		t.Error("a query without a selector was accepted")
	}
	if _, err := sluiceQuery(`sum(`); err == nil {
		t.Error("malformed PromQL was accepted")
	}
}

// TestBadInput: hostile or malformed input is an error at its line, and
// nothing is converted.
func TestBadInput(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := 0; i < 8; i++ {
		name := string(rune('b' + i))
		laughs += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	cases := []struct {
		name, input, want string
		is                error
	}{
		{"alias bomb", laughs, "decodes to more than", config.ErrInvalid},
		{"merge key", "base: &b {x: 1}\nkind: Canary\n<<: *b\n", "merge keys", config.ErrInvalid},
		{"custom tag", "kind: !evil Canary\n", "custom tag", config.ErrInvalid},
		{"duplicate key", "kind: Canary\nkind: Rollout\n", "given twice", config.ErrInvalid},
		{"malformed", "kind: [Canary\n", "malformed", config.ErrSyntax},
		{"control character", "kind: Canary\x07\n", "control character", config.ErrInvalid},
		{"wrong type", "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web}\nspec:\n  analysis:\n    stepWeight: five\n",
			"<input>:6", ErrUnreadable},
		{"bad name", "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: Web_App}\nspec: {}\n", "lowercase", ErrUnreadable},
		{"no canary", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no flagger resource", ErrNothingToImport},
		{"no budget left", "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web}\nspec:\n  analysis:\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 100}\n",
			"objective", ErrNotConvertible},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Import(FormatFlagger, "", []byte(c.input))
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (want %v containing %q)", err, c.is, c.want)
			}
		})
	}
	if _, err := Import("spinnaker", "x", []byte("a: 1\n")); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("#"), MaxInputBytes+1)
	if _, err := Import(FormatArgo, "big.yaml", big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
}

// FuzzImport: no input makes a conversion panic, and whatever converts
// parses as Sluice configuration.
func FuzzImport(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.yaml")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(len(in)), data)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		format := Formats[int(which)%len(Formats)]
		res, err := Import(format, "fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := res.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse("fuzz.yaml", out); err != nil {
			t.Fatalf("converted output does not parse: %v\n%s", err, out)
		}
	})
}

func TestFlaggerMaxWeightCapsTheLastStep(t *testing.T) {
	in := "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web}\nspec:\n  analysis: {interval: 30s, stepWeight: 30, maxWeight: 50}\n"
	res, err := Import(FormatFlagger, "c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var ws []uint32
	for _, s := range res.Policies[0].Spec.Steps {
		ws = append(ws, s.Weight)
	}
	if len(ws) != 3 || ws[0] != 30 || ws[1] != 50 || ws[2] != 100 {
		t.Errorf("weights %v, want [30 50 100]", ws)
	}
}

func TestFlaggerBlueGreen(t *testing.T) {
	in := "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web}\nspec:\n  analysis: {interval: 1m, iterations: 10, stepWeight: 100, maxWeight: 100}\n"
	res, err := Import(FormatFlagger, "c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	steps := res.Policies[0].Spec.Steps
	if len(steps) != 1 || steps[0].Weight != 100 || steps[0].Bake.D() != 10*time.Minute {
		t.Errorf("steps %+v, want one step to 100%% baked 10m", steps)
	}
	for _, path := range []string{"Canary/web: spec.analysis.iterations", "Canary/web: spec.analysis.stepWeight"} {
		if reported(res, path) == "" {
			t.Errorf("%s not reported: %+v", path, res.Unmapped)
		}
	}
	for _, u := range res.Unmapped {
		if u.Path == "Canary/web: spec.analysis.iterations" && u.Kind != Approximated {
			t.Errorf("iterations: kind %q, want approximated", u.Kind)
		}
	}
}

// TestHugeQueryIsNotParsed: a query over Sluice's bound on templates is
// reported without being parsed (a deep expression would cost the parser
// dearly).
func TestHugeQueryIsNotParsed(t *testing.T) {
	in := "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec: {metrics: [{successCondition: result > 0.9, provider: {prometheus: {query: '" +
		strings.Repeat("a+", 200000) + "a / b'}}}]}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {strategy: {canary: {analysis: {templates: [{templateName: t}]}}}}\n"
	res, err := Import(FormatArgo, "t.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if res.Policies[0].Spec.SLO != nil || !strings.Contains(reported(res, "AnalysisTemplate/t: spec.metrics[0].provider.prometheus.query"), "at most 16384") {
		t.Errorf("a huge query must be reported, not converted: %+v", res.Unmapped)
	}
}
