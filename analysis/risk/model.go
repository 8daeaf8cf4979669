package risk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ErrInvalidModel is returned when a model is not fit to score with: an
// unknown feature or transform, a non-finite weight, a zero scale, cut-offs
// out of order, or a Version that does not match the weights.
var ErrInvalidModel = errors.New("invalid risk model")

// Transforms a FeatureSpec may apply to a raw value before scaling. Both
// are monotone, so a positive coefficient always means "more is riskier".
const (
	TransformIdentity = "identity"
	TransformLog1p    = "log1p"
)

// Origin says where a coefficient comes from.
type Origin string

// Origins of coefficients.
const (
	// OriginData: learned by Train from labelled changes.
	OriginData Origin = "data"
	// OriginPrior: set by judgement (documented in Note), not learned;
	// used for release-time features no public data set carries.
	OriginPrior Origin = "prior"
	// OriginCluster: refined by Update from this cluster's own outcomes.
	OriginCluster Origin = "cluster"
)

// FeatureSpec is one term of the model: the feature, its transform, the
// scaling (Mean and Std of the transformed value) and the coefficient per
// standard deviation. Its contribution to the log-odds is
// Coef * (transform(value) - Mean) / Std.
type FeatureSpec struct {
	Name      string  `json:"name"`
	Transform string  `json:"transform"`
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
	Coef      float64 `json:"coef"`
	Origin    Origin  `json:"origin"`
	// Note explains a prior coefficient (or anything else about the term).
	Note string `json:"note,omitempty"`
}

// Cutoffs are the probabilities at which a score becomes medium or high
// risk: p < Medium is low, Medium <= p < High is medium, p >= High is high.
type Cutoffs struct {
	Medium float64 `json:"medium"`
	High   float64 `json:"high"`
}

// Model is a logistic risk model. It is plain data (JSON) so it can live in
// the replicated state; Version is a content hash of everything that
// changes a score, so every score can say which model made it.
type Model struct {
	Version   string        `json:"version"`
	Features  []FeatureSpec `json:"features"`
	Intercept float64       `json:"intercept"`
	Cutoffs   Cutoffs       `json:"cutoffs"`
	// TrainedOn says what the model was fitted on, in words.
	TrainedOn string `json:"trainedOn"`
	// Samples and Failures count the labelled changes of the last fit.
	Samples  int `json:"samples,omitempty"`
	Failures int `json:"failures,omitempty"`
	// Parent is the Version of the model Update started from.
	Parent string `json:"parent,omitempty"`
}

// Level is the coarse risk class that sets step plans, bake times and
// approvals.
type Level string

// Risk levels.
const (
	LevelLow    Level = "low"
	LevelMedium Level = "medium"
	LevelHigh   Level = "high"
)

// Level classifies a probability with the model's cut-offs.
func (c Cutoffs) Level(p float64) Level {
	switch {
	case p >= c.High:
		return LevelHigh
	case p >= c.Medium:
		return LevelMedium
	default:
		return LevelLow
	}
}

// ComputeVersion returns the content hash of the model's weights, scaling,
// transforms, origins and cut-offs ("sha256:" and 16 hex digits).
func (m *Model) ComputeVersion() string {
	type term struct {
		Name      string  `json:"n"`
		Transform string  `json:"t"`
		Mean      float64 `json:"m"`
		Std       float64 `json:"s"`
		Coef      float64 `json:"c"`
		Origin    Origin  `json:"o"`
	}
	body := struct {
		Terms     []term  `json:"terms"`
		Intercept float64 `json:"intercept"`
		Cutoffs   Cutoffs `json:"cutoffs"`
	}{Intercept: m.Intercept, Cutoffs: m.Cutoffs}
	for _, f := range m.Features {
		body.Terms = append(body.Terms, term{f.Name, f.Transform, f.Mean, f.Std, f.Coef, f.Origin})
	}
	b, err := json.Marshal(body)
	if err != nil {
		// Only non-finite numbers fail to marshal; Validate rejects them.
		return "invalid"
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// Seal sets Version to the content hash. Call it after changing weights.
func (m *Model) Seal() { m.Version = m.ComputeVersion() }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks that the model can score and that Version matches its
// content. Errors wrap ErrInvalidModel and name the offending term.
func (m *Model) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: no model", ErrInvalidModel)
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		at := fmt.Sprintf("features[%d] (%s)", i, f.Name)
		switch {
		case !isKnownFeature(f.Name):
			return fmt.Errorf("%w: %s: unknown feature, want one of %s", ErrInvalidModel, at, strings.Join(KnownFeatures(), ", "))
		case seen[f.Name]:
			return fmt.Errorf("%w: %s: feature listed twice", ErrInvalidModel, at)
		case f.Transform != TransformIdentity && f.Transform != TransformLog1p:
			return fmt.Errorf("%w: %s: unknown transform %q, want %q or %q", ErrInvalidModel, at, f.Transform, TransformIdentity, TransformLog1p)
		case !finite(f.Mean) || !finite(f.Coef) || !finite(f.Std):
			return fmt.Errorf("%w: %s: mean, std and coef must be finite numbers", ErrInvalidModel, at)
		case f.Std <= 0:
			return fmt.Errorf("%w: %s: std is %v, must be > 0", ErrInvalidModel, at, f.Std)
		case f.Origin != OriginData && f.Origin != OriginPrior && f.Origin != OriginCluster:
			return fmt.Errorf("%w: %s: unknown origin %q", ErrInvalidModel, at, f.Origin)
		}
		seen[f.Name] = true
	}
	if !finite(m.Intercept) {
		return fmt.Errorf("%w: intercept must be a finite number", ErrInvalidModel)
	}
	c := m.Cutoffs
	if !(c.Medium > 0 && c.Medium <= c.High && c.High < 1) {
		return fmt.Errorf("%w: cutoffs medium=%v high=%v: want 0 < medium <= high < 1", ErrInvalidModel, c.Medium, c.High)
	}
	if got := m.ComputeVersion(); m.Version != got {
		return fmt.Errorf("%w: version %q does not match the weights (content hash %q)", ErrInvalidModel, m.Version, got)
	}
	return nil
}

// Clone returns a deep copy.
func (m *Model) Clone() *Model {
	c := *m
	c.Features = slices.Clone(m.Features)
	return &c
}

// Feature returns the term for a feature, if the model has it.
func (m *Model) Feature(name string) (FeatureSpec, bool) {
	for _, f := range m.Features {
		if f.Name == name {
			return f, true
		}
	}
	return FeatureSpec{}, false
}

func applyTransform(t string, x float64) float64 {
	if t == TransformLog1p {
		return math.Log1p(x)
	}
	return x
}

// Sigmoid is the logistic function, computed without overflow.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Contribution is one feature's share of a score.
type Contribution struct {
	Feature string `json:"feature"`
	// Value is the raw value (before transform); booleans are 0 or 1.
	Value float64 `json:"value"`
	// Contribution is the change in log-odds against the model's reference
	// (the training mean): positive raises the risk.
	Contribution float64 `json:"contribution"`
	// Text says what the value is, in plain words.
	Text string `json:"text"`
	// Origin of the coefficient; a prior is marked in explanations.
	Origin Origin `json:"origin"`
}

// Score is a model's assessment of one release.
type Score struct {
	ModelVersion string  `json:"modelVersion"`
	Probability  float64 `json:"probability"`
	LogOdds      float64 `json:"logOdds"`
	Level        Level   `json:"level"`
	// Contributions of the features that were used, largest absolute
	// contribution first.
	Contributions []Contribution `json:"contributions"`
	// Missing lists the model's features the input did not have; Invalid
	// those it had with an impossible value (negative count, NaN). Both
	// contribute nothing.
	Missing []string `json:"missing,omitempty"`
	Invalid []string `json:"invalid,omitempty"`
}

// Score computes the risk of a release. A missing or invalid feature is
// taken at the model's reference value (the training mean, or for a prior
// feature its stated reference), so it contributes 0 to the log-odds: the
// score neither punishes nor rewards what it does not know, and says what
// it could not use. The model should have passed Validate.
func (m *Model) Score(f Features) Score {
	s := Score{ModelVersion: m.Version, LogOdds: m.Intercept}
	for _, spec := range m.Features {
		v := f.value(spec.Name)
		switch {
		case !v.present:
			s.Missing = append(s.Missing, spec.Name)
			continue
		case !v.valid:
			s.Invalid = append(s.Invalid, spec.Name)
			continue
		}
		z := (applyTransform(spec.Transform, v.x) - spec.Mean) / spec.Std
		c := spec.Coef * z
		s.LogOdds += c
		s.Contributions = append(s.Contributions, Contribution{
			Feature:      spec.Name,
			Value:        v.x,
			Contribution: c,
			Text:         describe(spec.Name, v, z),
			Origin:       spec.Origin,
		})
	}
	slices.SortStableFunc(s.Contributions, func(a, b Contribution) int {
		if d := math.Abs(b.Contribution) - math.Abs(a.Contribution); d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Feature, b.Feature)
	})
	s.Probability = Sigmoid(s.LogOdds)
	s.Level = m.Cutoffs.Level(s.Probability)
	return s
}

// Explain returns the top reasons in plain words, largest first, such as
// "adds 1,240 lines (high churn): +0.62"; a coefficient that is a prior
// (not learned from data) is marked "(prior)". Contributions that round to
// 0.00 are left out; top <= 0 means all the others. When features were
// missing or invalid a last line says which.
func (s Score) Explain(top int) []string {
	var out []string
	for _, c := range s.Contributions {
		if top > 0 && len(out) == top {
			break
		}
		if math.Abs(c.Contribution) < 0.005 {
			continue // prints as 0.00: not a reason
		}
		line := c.Text + ": " + signed(c.Contribution)
		if c.Origin == OriginPrior {
			line += " (prior)"
		}
		out = append(out, line)
	}
	if len(s.Missing) > 0 {
		out = append(out, "missing: "+strings.Join(s.Missing, ", "))
	}
	if len(s.Invalid) > 0 {
		out = append(out, "invalid: "+strings.Join(s.Invalid, ", "))
	}
	return out
}

// signed formats a log-odds contribution with its sign and two decimals.
func signed(x float64) string {
	t := fmt.Sprintf("%+.2f", x)
	if t == "-0.00" {
		t = "+0.00"
	}
	return t
}
