package config

// Every default Sluice applies to a document lives in this file.
//
// Required fields (apiVersion, kind, metadata.name, spec.protocol, the port
// of an http service, versions, endpoints and their addresses, the services
// of a ReleasePolicy) have no default: leaving one out is an error.

const (
	// DefaultRegion is the region of an endpoint that names none. The empty
	// region is a valid locality of its own: endpoints without a region are
	// grouped together, apart from those that name one.
	DefaultRegion = ""
	// DefaultZone is the zone of an endpoint that names none. Like the
	// region, the empty zone is a valid locality.
	DefaultZone = ""

	// TotalWeight is what the weights of a service's versions add up to.
	TotalWeight = 100
	// StableWeight is the share of traffic the first version gets when no
	// version sets a weight; every other version then gets 0.
	StableWeight = TotalWeight
)

// ApplyDefaults fills in defaults and puts d into its canonical form, so
// that a document read from a file equals the same document after a JSON
// round trip (through the Raft log, or `get -o yaml` and back):
//
//   - empty optional lists and maps (domains: [], dependsOn: [],
//     labels: {}) become absent;
//   - endpoint region and zone are DefaultRegion and DefaultZone when not
//     set, which is the zero value and needs no change.
//
// Weights are not filled in: a version without a weight stays without one,
// and EffectiveWeights says how traffic is split.
func ApplyDefaults(d *Document) {
	if s := d.Service; s != nil {
		if len(s.Metadata.Labels) == 0 {
			s.Metadata.Labels = nil
		}
		if len(s.Spec.Domains) == 0 {
			s.Spec.Domains = nil
		}
		if len(s.Spec.DependsOn) == 0 {
			s.Spec.DependsOn = nil
		}
	}
	if p := d.ReleasePolicy; p != nil {
		if len(p.Metadata.Labels) == 0 {
			p.Metadata.Labels = nil
		}
	}
}

// EffectiveWeights returns the static traffic share of each version of s,
// in the order of s.Versions: the explicit weights when versions set them
// (a version without one counts as 0), otherwise StableWeight for the first
// version and 0 for the others.
func EffectiveWeights(s *ServiceSpec) []uint32 {
	w := make([]uint32, len(s.Versions))
	explicit := false
	for i, v := range s.Versions {
		if v.Weight != nil {
			w[i] = *v.Weight
			explicit = true
		}
	}
	if !explicit && len(w) > 0 {
		w[0] = StableWeight
	}
	return w
}
