package config

// ReleaseTrain releases several services together: in dependency order,
// each member only once what it depends on has got far enough, and rolled
// back together when any member fails.
type ReleaseTrain struct {
	APIVersion string           `json:"apiVersion"`
	Kind       Kind             `json:"kind"`
	Metadata   Metadata         `json:"metadata"`
	Spec       ReleaseTrainSpec `json:"spec"`
}

// ReleaseTrainSpec is the body of a ReleaseTrain.
type ReleaseTrainSpec struct {
	Members []TrainMember `json:"members"`
	// Requires is how far a member's dependencies must have got before it
	// starts: "promoted" (default) or "step:N" (their step N, 1-based,
	// ACKed).
	Requires string `json:"requires,omitempty"`
	// Lockstep makes members that do not depend on each other advance
	// step by step together: none moves past a step before the others
	// have reached it.
	Lockstep bool `json:"lockstep,omitempty"`
}

// TrainMember is one service released by a train.
type TrainMember struct {
	// Name identifies the member in the train (default: the service).
	Name    string `json:"name,omitempty"`
	Service string `json:"service"`
	To      string `json:"to"`
	From    string `json:"from,omitempty"`
	// Policy names the ReleasePolicy to use instead of the one covering
	// the service.
	Policy string `json:"policy,omitempty"`
	// After lists members this one waits for, in addition to those its
	// service depends on (Service.dependsOn).
	After []string `json:"after,omitempty"`
	// HealthCheck must pass before the member moves any traffic.
	HealthCheck *HealthCheck      `json:"healthCheck,omitempty"`
	Change      *ChangeDescriptor `json:"change,omitempty"`
	Gates       []GateResult      `json:"gates,omitempty"`
}

// MemberName is the member's name in the train.
func (m TrainMember) MemberName() string {
	if m.Name != "" {
		return m.Name
	}
	return m.Service
}

// HealthCheck probes a member's new version before it gets traffic.
type HealthCheck struct {
	// HTTP probes every endpoint of the new version.
	HTTP *HTTPProbe `json:"http,omitempty"`
	// Query is a PromQL condition with {{service}} and {{version}}; it
	// passes when it returns a sample with a non-zero value.
	Query string `json:"query,omitempty"`
	// Timeout bounds one attempt; Retries attempts follow a failure,
	// Interval apart.
	Timeout  Duration `json:"timeout,omitempty"`
	Retries  int      `json:"retries,omitempty"`
	Interval Duration `json:"interval,omitempty"`
}

// HTTPProbe is an HTTP GET against each endpoint.
type HTTPProbe struct {
	Path string `json:"path,omitempty"`
	// Port overrides the endpoint's port (e.g. a separate health port).
	Port uint32 `json:"port,omitempty"`
	// ExpectStatus is the status that passes (default 200).
	ExpectStatus int `json:"expectStatus,omitempty"`
}
