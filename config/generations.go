package config

// Defaults names a generation of the policy defaults that state.Apply fills
// into a release when it is created. Defaults are part of the Raft log
// format (raft/DESIGN.md, "Versioning the log"): a node replaying an old
// apply entry must give the release it creates the defaults the node that
// first applied it gave, or replicas and replays diverge. So a default that
// Apply uses never changes in place: a new value is a new generation, the
// leader stamps CurrentDefaults on every apply it proposes, and an entry
// that names none is from before generations were recorded (Defaults1).
//
// Values are part of the log format: never change or reuse one, only add.
type Defaults int

// Generations of the policy defaults.
const (
	// Defaults1 are the defaults of log format 1 and of every apply entry
	// that names no generation: baseline.minDelta 1%.
	Defaults1 Defaults = 1
	// Defaults2 lowers baseline.minDelta to 0.5% (DefaultBaselineMinDelta):
	// the 1% floor held back the comparison of a 10x canary at 0.1% errors.
	Defaults2 Defaults = 2

	// CurrentDefaults is the generation a leader proposes today.
	CurrentDefaults = Defaults2
)

// Of returns the generation an apply entry applies: d, or Defaults1 for an
// entry written before generations were recorded (zero).
func (d Defaults) Of() Defaults {
	if d <= 0 {
		return Defaults1
	}
	return d
}

// Known reports whether this binary has the defaults of generation d. An
// entry naming a newer one comes from a newer leader; Apply refuses it as
// it refuses an unknown command type (raft/DESIGN.md rule 6: upgrade
// followers first, the leader last).
func (d Defaults) Known() bool { return d.Of() <= CurrentDefaults }

// baselineMinDelta is the generation's default baseline.minDelta.
func (d Defaults) baselineMinDelta() float64 {
	if d.Of() < Defaults2 {
		return 0.01
	}
	return DefaultBaselineMinDelta
}
