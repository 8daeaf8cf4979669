package controller

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/analysis"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// Mirror steps. Envoy copies the step's share of requests to the new
// version; proxyless gRPC clients (grpc-go) do not mirror and send every
// request to stable. Before a mirror step of a grpc service is ACKed, the
// proxy groups with proxyless streams are recorded (state.SkipMirror), so
// the record says which groups the mirror did not reach and why. The
// step's analysis runs as for any step: it judges the new version on the
// requests Envoy mirrored to it. When no Envoy mirrors (only proxyless
// clients), the new version gets no requests, the analysis is
// Inconclusive, and the release holds and then fails per the policy's
// inconclusiveLimit, never advancing on no data.

// DecideMirrorSkip is the event recording the proxy groups a mirror step
// of r is not mirrored for, or nil: r is progressing at a mirror step not
// yet ACKed, svc is a grpc service (only grpc services have proxyless
// clients, through their api listeners), and the fleet shows groups with
// proxyless streams not recorded yet. It is pure.
func DecideMirrorSkip(r *state.Release, svc *config.Service, fleet Fleet) state.ReleaseEvent {
	rs := &r.Status
	share := r.MirrorShare(rs.Step)
	if rs.Phase != state.PhaseProgressing || rs.Acked || share == 0 || svc == nil || svc.Spec.Protocol != config.ProtocolGRPC {
		return nil
	}
	streams := map[string]int{}
	for _, g := range fleet.Groups {
		if g.Proxyless > 0 && !r.MirrorSkipped(g.Group) {
			streams[g.Group] += g.Proxyless
		}
	}
	if len(streams) == 0 {
		return nil
	}
	groups := make([]string, 0, len(streams))
	for g := range streams {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	skips := make([]state.MirrorSkip, len(groups))
	total := 0
	for i, g := range groups {
		skips[i] = state.MirrorSkip{Step: rs.Step, Group: g, Reason: state.MirrorSkipProxyless, Streams: streams[g]}
		total += streams[g]
	}
	msg := fmt.Sprintf("step %d mirrors %d%% to %s through Envoy only: proxyless gRPC clients (grpc-go) do not mirror requests, so in group(s) %s (%d proxyless stream(s)) every request goes to %s",
		rs.Step+1, share, r.Spec.Spec.To, strings.Join(groups, ", "), total, rs.From)
	return &state.SkipMirror{On: state.OnRelease(r, msg), Skips: skips}
}

// mirrorHold is the event for a mirror step whose analysis would roll the
// release back when its policy says onMirrorFailure: hold: the release
// pauses at the step for a person. It is nil for any other step or
// policy, which roll back as usual.
func mirrorHold(r *state.Release, verdict []byte, c analysis.Counters, reason string) state.ReleaseEvent {
	rs := &r.Status
	share := r.MirrorShare(rs.Step)
	if share == 0 || rs.PolicySpec.OnMirrorFailure != config.MirrorFailureHold {
		return nil
	}
	msg := fmt.Sprintf("held at mirror step %d (%d%% shadowed to %s, no user served by it): %s; the policy says onMirrorFailure: hold, so a person resumes, rolls back or aborts the release",
		rs.Step+1, share, r.Spec.Spec.To, reason)
	return &state.HoldMirror{On: state.OnAnalysis(r, msg), Verdict: verdict, Counters: &c}
}

// mirrorExposure is what a mirror step exposes: no user, tenant or
// region is served by the new version; it only receives copies.
func mirrorExposure(step int, share uint32) state.Exposure {
	return state.Exposure{Step: step, Share: 0, Tenants: 0, Regions: 0, Source: state.ExposurePlan,
		Detail: fmt.Sprintf("mirror: %d%% of requests copied to the new version, no user served by it", share)}
}
