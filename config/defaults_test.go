package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEffectiveWeights(t *testing.T) {
	w := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name     string
		versions []Version
		want     []uint32
	}{
		{name: "no versions", versions: nil, want: []uint32{}},
		{name: "no weights: all to the first", versions: []Version{{Name: "a"}, {Name: "b"}, {Name: "c"}}, want: []uint32{100, 0, 0}},
		{name: "explicit", versions: []Version{{Name: "a", Weight: w(20)}, {Name: "b", Weight: w(80)}}, want: []uint32{20, 80}},
		{name: "explicit zero first", versions: []Version{{Name: "a", Weight: w(0)}, {Name: "b", Weight: w(100)}}, want: []uint32{0, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, EffectiveWeights(&ServiceSpec{Versions: tc.versions}))
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	d := Document{Kind: KindService, Name: "web", Service: &Service{
		Metadata: Metadata{Name: "web", Labels: map[string]string{}},
		Spec:     ServiceSpec{Domains: []string{}, DependsOn: []string{}, Versions: []Version{{Name: "v1"}}},
	}}
	ApplyDefaults(&d)
	require.Nil(t, d.Service.Metadata.Labels)
	require.Nil(t, d.Service.Spec.Domains)
	require.Nil(t, d.Service.Spec.DependsOn)
	require.Equal(t, []Version{{Name: "v1"}}, d.Service.Spec.Versions)

	p := Document{Kind: KindReleasePolicy, ReleasePolicy: &ReleasePolicy{Metadata: Metadata{Labels: map[string]string{}}}}
	ApplyDefaults(&p)
	require.Nil(t, p.ReleasePolicy.Metadata.Labels)

	ApplyDefaults(&Document{}) // no body: nothing to do, no panic
}

func TestPositionString(t *testing.T) {
	require.Equal(t, "f.yaml:3:7", Position{File: "f.yaml", Line: 3, Column: 7}.String())
	require.Equal(t, "f.yaml:3", Position{File: "f.yaml", Line: 3}.String())
	require.Equal(t, "f.yaml", Position{File: "f.yaml"}.String())
	require.Equal(t, "<input>:1:2", Position{Line: 1, Column: 2}.String())
	require.Equal(t, `Service "web": spec.port: bad`, FieldError{Kind: KindService, Name: "web", Field: "spec.port", Message: "bad"}.Error())
}
