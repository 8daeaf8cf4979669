package discovery

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// FuzzParseTargets: any content either parses into valid, unique
// endpoints or is refused with ErrBadTargets; it never panics.
func FuzzParseTargets(f *testing.F) {
	f.Add([]byte(`[{"targets": ["10.0.0.1:8080"], "labels": {"region": "eu"}}]`))
	f.Add([]byte("- targets: [10.0.0.1:8080]\n  labels: {health: unhealthy}\n"))
	f.Add([]byte("- &a {targets: [10.0.0.1:8080]}\n- *a\n"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		eps, err := ParseTargets("f.yaml", b)
		if err != nil {
			if !errors.Is(err, ErrBadTargets) {
				t.Fatalf("error %v does not match ErrBadTargets", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range eps {
			norm, err := config.CheckEndpointAddress(e.Address)
			if err != nil || norm != e.Address || seen[norm] {
				t.Fatalf("endpoint %+v: %v (seen %v)", e, err, seen[norm])
			}
			seen[norm] = true
		}
	})
}
