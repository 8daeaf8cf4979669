package main

import (
	"fmt"
	"io"

	"github.com/sluicehq/sluice/state"
)

// printMirror shows what a mirror step does and the proxy groups it did
// not reach (proxyless gRPC clients, which do not mirror).
func printMirror(w io.Writer, r *state.Release) {
	rs := &r.Status
	if share := r.MirrorShare(rs.Step); share > 0 && !rs.Phase.Terminal() {
		fmt.Fprintf(w, "Mirror:\t%d%% of requests copied to %s by Envoy, its answers discarded; every user is served by %s\n", share, r.Spec.Spec.To, rs.From)
	}
	for _, s := range rs.MirrorSkips {
		fmt.Fprintf(w, "Not mirrored:\tstep %d, group %s (%s, %d stream(s)): proxyless gRPC clients do not mirror; they send every request to %s\n",
			s.Step+1, s.Group, s.Reason, s.Streams, rs.From)
	}
}

// mirrorLabel is a mirror step in the plan line.
func mirrorLabel(share uint32) string { return fmt.Sprintf("mirror %d%%", share) }
