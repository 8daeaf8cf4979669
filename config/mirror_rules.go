package config

import "fmt"

// checkMirror applies the rules of mirror steps and onMirrorFailure. A
// mirror step is only a mirror (no weight, no cohort), shadows 1-100
// percent, and comes before every step that serves users from the new
// version; a plan does not end with one, since promoting from it would
// move every user at once onto a version no user has met.
func checkMirror(r *reporter, spec *ReleasePolicySpec) {
	switch f := spec.OnMirrorFailure; f {
	case "", MirrorFailureRollback, MirrorFailureHold:
	default:
		r.addf("spec.onMirrorFailure", "must be %s, got %q", mirrorFailures, f)
	}
	served := -1 // the first step that serves users from the new version
	last := -1   // the last mirror step
	for i, st := range spec.Steps {
		if !st.IsMirror() {
			if served < 0 {
				served = i
			}
			continue
		}
		last = i
		path := fmt.Sprintf("spec.steps[%d]", i)
		if st.Mirror > TotalWeight {
			r.addf(path+".mirror", "must be 1-%d (the share of requests shadowed to the new version, in percent), got %d", TotalWeight, st.Mirror)
		}
		if st.Weight != 0 {
			r.addf(path+".weight", "a step is either a mirror or a weight, not both (a mirror step serves every user from stable)")
		}
		if st.Cohort != "" {
			r.addf(path+".cohort", "a step is either a mirror or a cohort stage, not both (a mirror step serves every user from stable)")
		}
		if served >= 0 {
			r.addf(path+".mirror", "a mirror step must come before every step that serves users from the new version, and spec.steps[%d] already does", served)
		}
	}
	if last >= 0 && last == len(spec.Steps)-1 {
		r.addf(fmt.Sprintf("spec.steps[%d].mirror", last), "a plan must not end with a mirror step: promoting from it would move every user at once onto a version no user has met; add a weight or cohort step after it")
	}
}
