package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// FuzzRequestBodies: every JSON body the API decodes (join, leave, release
// actions, a new release) either decodes or fails with a bounded error
// that maps to 400, never a panic.
func FuzzRequestBodies(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id": "n2", "raftAddr": "10.0.0.2:7071", "apiAddr": "10.0.0.2:7070", "voter": true}`))
	f.Add(uint8(1), []byte(`{"id": "n2"}`))
	f.Add(uint8(2), []byte(`{"reason": "slo", "step": 2, "overrideGate": "e2e", "startNow": true}`))
	f.Add(uint8(3), []byte(`{"metadata": {"name": "web-v2"}, "spec": {"service": "web", "to": "v2", "change": {"linesAdded": 10}}}`))
	f.Add(uint8(3), []byte(`{"spec": {"to": "a", "to": "b"}}`))
	f.Add(uint8(2), []byte(`{"step": 18446744073709551616}`))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		targets := []func() any{
			func() any { return &JoinRequest{} },
			func() any { return &LeaveRequest{} },
			func() any { return &ActionRequest{} },
			func() any { return &config.Release{} },
		}
		v := targets[int(kind)%len(targets)]()
		r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(string(body)))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodyBytes)
		err := decodeJSON(r, v)
		if err == nil {
			return
		}
		if !errors.Is(err, config.ErrInvalid) && !errors.Is(err, errBadRequest) {
			t.Fatalf("decode error maps to no 4xx: %T %v", err, err)
		}
		if len(clipMessage(err.Error())) > maxErrorMessage+64 {
			t.Fatalf("error message not clipped")
		}
	})
}
