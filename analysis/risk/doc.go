// Package risk scores the risk of a release from the change it ships, and
// says why.
//
// A Model is a logistic model with one term per feature (lines added,
// files touched, whether it is a fix, services touched, start outside
// business hours, on-call cover, ...). Model.Score returns the probability,
// a Level (low, medium, high) and each feature's contribution to the
// log-odds; Score.Explain turns the largest into plain words. A feature the
// caller does not know contributes nothing and is reported as missing.
//
// Train fits a model deterministically (L2-regularised logistic regression
// by Newton's method); Update refines one from a cluster's own release
// outcomes, centred on the prior model. DefaultModel is trained on public
// just-in-time defect data (see docs/risk.md and Evaluate). Everything here
// is pure: no clock, no randomness, no I/O except the explicit file
// readers used for evaluation.
//
// The score never overrides a quality gate: gates are checked elsewhere.
package risk
