package test

import "github.com/sluicehq/sluice/state"

// holdOf is the message of what a release is held for ("" when it is not).
func holdOf(r *state.Release) string {
	if r.Status.Hold == nil {
		return ""
	}
	return r.Status.Hold.Message
}
