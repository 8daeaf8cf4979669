package config

// This file holds the mirror step of a release plan: a share of live
// requests is copied (shadowed) to the new version, whose answers are
// discarded, before any user is served by it. Envoy does the copying
// (request_mirror_policies); proxyless gRPC clients do not mirror, so for
// them a mirror step serves stable only. The rules are in mirror_rules.go.

// MirrorFailure says what a mirror step whose analysis fails does.
type MirrorFailure string

// Mirror failure actions.
const (
	// MirrorFailureRollback ends the release with all traffic on stable,
	// as a failed step of any kind does.
	MirrorFailureRollback MirrorFailure = "rollback"
	// MirrorFailureHold pauses the release at its mirror step: the mirror
	// goes on (no user is served by the new version) and a person
	// resumes, rolls back or aborts it.
	MirrorFailureHold MirrorFailure = "hold"
)

// mirrorFailures lists the accepted values, for messages.
const mirrorFailures = `"rollback" or "hold"`

// IsMirror reports whether the step shadows traffic instead of serving
// users.
func (s StepSpec) IsMirror() bool { return s.Mirror != 0 }

// HasMirrorStep reports whether a plan has a mirror step.
func HasMirrorStep(steps []StepSpec) bool {
	for _, s := range steps {
		if s.IsMirror() {
			return true
		}
	}
	return false
}
