package state

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const discoveredGreeter = `apiVersion: sluice.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  versions:
    - {name: v1, endpoints: [{address: "10.0.0.1:80"}]}
    - name: v2
      discovery: {dns: {name: greeter-v2.internal, port: 8080}}
`

const v2Source = "dns:greeter-v2.internal:8080"

func observe(prev uint64, eps ...ObservedEndpoint) *ObserveEndpoints {
	return &ObserveEndpoints{Service: "greeter", Version: "v2", Source: v2Source, Previous: prev, Endpoints: eps}
}

func ep(addr string, h EndpointHealth) ObservedEndpoint {
	return ObservedEndpoint{Address: addr, Health: h}
}

func TestObserveEndpointsRecordsTheSetApartFromTheSpec(t *testing.T) {
	m := newMachine(t, discoveredGreeter)
	spec := m.st.Services["greeter"]
	at := t0.Add(time.Minute)
	require.NoError(t, m.do(observe(0, ep("10.0.0.3:8080", Healthy), ep("10.0.0.2:8080", Unhealthy)), at, "discovery"))
	set := m.st.Endpoints[EndpointKey("greeter", "v2")]
	require.NotNil(t, set)
	require.Equal(t, []ObservedEndpoint{ep("10.0.0.2:8080", Unhealthy), ep("10.0.0.3:8080", Healthy)}, set.Endpoints, "sorted by address")
	require.Equal(t, at, set.ObservedAt, "the time is the command's")
	require.Equal(t, m.index, set.Index)
	require.Same(t, spec, m.st.Services["greeter"], "the spec is not touched")
	require.Len(t, set.History, 1)
	require.Equal(t, DecisionEndpoints, set.History[0].Action)
	require.Contains(t, set.History[0].Message, "2 endpoint(s), 1 unhealthy")
	got, ok := m.st.DiscoveredEndpoints("greeter", &spec.Spec.Versions[1])
	require.True(t, ok)
	require.Same(t, set, got)
	require.Empty(t, m.st.Releases, "an endpoint change is not a release")

	// The same observation again changes nothing, not even the index.
	before := m.st
	require.NoError(t, m.do(observe(set.Index, ep("10.0.0.2:8080", Unhealthy), ep("10.0.0.3:8080", Healthy)), at, "discovery"))
	require.Same(t, before, m.st)

	// A health change is recorded.
	require.NoError(t, m.do(observe(set.Index, ep("10.0.0.2:8080", Healthy), ep("10.0.0.3:8080", Healthy)), at, "discovery"))
	set = m.st.Endpoints[EndpointKey("greeter", "v2")]
	require.Len(t, set.History, 2)
	require.Contains(t, set.History[1].Message, "10.0.0.2:8080 unhealthy->healthy")
}

func TestObserveEndpointsFailureKeepsTheLastGoodSet(t *testing.T) {
	m := newMachine(t, discoveredGreeter)
	require.NoError(t, m.do(observe(0, ep("10.0.0.2:8080", Healthy)), t0, "discovery"))
	idx := m.st.Endpoints[EndpointKey("greeter", "v2")].Index
	fail := observe(idx)
	fail.Failure = &SourceFailure{Kind: FailureLookup, Message: "lookup greeter-v2.internal: SERVFAIL"}
	require.NoError(t, m.do(fail, t0, "discovery"))
	set := m.st.Endpoints[EndpointKey("greeter", "v2")]
	require.Equal(t, []ObservedEndpoint{ep("10.0.0.2:8080", Healthy)}, set.Endpoints, "the last good set is kept")
	require.Equal(t, FailureLookup, set.Failure.Kind)
	require.Contains(t, set.History[1].Message, "keeping the last good set of 1 endpoint(s)")

	// The same failure again is not recorded twice.
	fail.Previous = set.Index
	before := m.st
	require.NoError(t, m.do(fail, t0, "discovery"))
	require.Same(t, before, m.st)

	// The source answers again: the failure is cleared.
	require.NoError(t, m.do(observe(set.Index, ep("10.0.0.2:8080", Healthy)), t0, "discovery"))
	set = m.st.Endpoints[EndpointKey("greeter", "v2")]
	require.Nil(t, set.Failure)
	require.Contains(t, set.History[2].Message, "the source answers again")
}

func TestObserveEndpointsGuards(t *testing.T) {
	m := newMachine(t, discoveredGreeter)
	require.NoError(t, m.do(observe(0, ep("10.0.0.2:8080", Healthy)), t0, "discovery"))
	idx := m.st.Endpoints[EndpointKey("greeter", "v2")].Index

	require.ErrorIs(t, m.do(observe(0, ep("10.0.0.3:8080", Healthy)), t0, "old-leader"), ErrConflict, "built on a set that changed since")
	require.ErrorIs(t, m.do(observe(idx+7, ep("10.0.0.3:8080", Healthy)), t0, "old-leader"), ErrConflict)

	other := observe(idx, ep("10.0.0.3:8080", Healthy))
	other.Source = "dns:greeter-old.internal:8080"
	require.ErrorIs(t, m.do(other, t0, "old-leader"), ErrConflict, "the version names another source now")

	listed := observe(0, ep("10.0.0.3:8080", Healthy))
	listed.Version, listed.Source = "v1", v2Source
	require.ErrorIs(t, m.do(listed, t0, "discovery"), ErrConflict, "v1 lists its endpoints")

	missing := observe(0)
	missing.Version = "v9"
	require.ErrorIs(t, m.do(missing, t0, "discovery"), ErrNotFound)

	for name, bad := range map[string]*ObserveEndpoints{
		"a name":    observe(idx, ep("greeter:8080", Healthy)),
		"twice":     observe(idx, ep("10.0.0.3:8080", Healthy), ep("10.0.0.3:8080", Unhealthy)),
		"no health": observe(idx, ep("10.0.0.3:8080", "")),
		"no port":   observe(idx, ep("10.0.0.3", Healthy)),
	} {
		require.ErrorIs(t, m.do(bad, t0, "discovery"), ErrBadPayload, name)
	}
	many := observe(idx)
	for i := range MaxObservedEndpoints + 1 {
		many.Endpoints = append(many.Endpoints, ep("10.1."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":80", Healthy))
	}
	require.ErrorIs(t, m.do(many, t0, "discovery"), ErrBadPayload)
	require.Equal(t, idx, m.st.Endpoints[EndpointKey("greeter", "v2")].Index, "nothing refused changed the set")
}

func TestEndpointHistoryIsBounded(t *testing.T) {
	m := newMachine(t, discoveredGreeter)
	var idx uint64
	for i := range maxEndpointHistory + 10 {
		h := Healthy
		if i%2 == 1 {
			h = Unhealthy
		}
		require.NoError(t, m.do(observe(idx, ep("10.0.0.2:8080", h)), t0, "discovery"))
		idx = m.st.Endpoints[EndpointKey("greeter", "v2")].Index
	}
	set := m.st.Endpoints[EndpointKey("greeter", "v2")]
	require.Len(t, set.History, maxEndpointHistory)
	require.Equal(t, maxEndpointHistory+10, set.History[len(set.History)-1].Seq, "numbering goes on")
}

func TestDeletingAServiceForgetsItsEndpoints(t *testing.T) {
	m := newMachine(t, discoveredGreeter)
	require.NoError(t, m.do(observe(0, ep("10.0.0.2:8080", Healthy)), t0, "discovery"))
	c, err := NewCommand(CmdDelete, t0, "alice", DeletePayload{Kind: "Service", Name: "greeter"})
	require.NoError(t, err)
	_, err = m.run(c)
	require.NoError(t, err)
	require.Empty(t, m.st.Endpoints)
}
