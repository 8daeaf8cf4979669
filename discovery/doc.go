// Package discovery finds the endpoints of the versions that name a
// discovery source instead of listing addresses: it resolves DNS names
// (following the answer's TTL within bounds), watches targets files in the
// Prometheus file_sd shape, and health-checks every endpoint found.
//
// It runs on the leader only (Loop, started with leadership like the
// release controller). It never changes anything itself: when what a
// source gives differs from what the replicated state holds, it proposes
// a state.ObserveEndpoints command, which the state machine checks and
// records. Translation then reads the recorded set; neither state.Apply
// nor xds.Translate ever resolves a name or reads a file.
package discovery
