package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
)

// The linearizability check: clients on different nodes write a Service
// (its port is the register's value) and read it back with consistent
// reads while faults happen; porcupine checks the history against a
// register per key.

// kvInput is one operation on a register: a write of Value, or a read.
type kvInput struct {
	Key   string
	Write bool
	Value int
}

// kvOutput is what a read returned (0: the service does not exist).
type kvOutput struct{ Value int }

// kvModel is a register per key, starting absent (0). A write whose
// outcome is unknown returns at +∞ (math.MaxInt64): it may take effect at
// any point after its call, or never, which for a register is the same as
// taking effect after everything else.
func kvModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range h {
				k := op.Input.(kvInput).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return 0 },
		Step: func(st, in, out any) (bool, any) {
			i := in.(kvInput)
			if i.Write {
				return true, i.Value
			}
			return out.(kvOutput).Value == st.(int), st
		},
		DescribeOperation: func(in, out any) string {
			i := in.(kvInput)
			if i.Write {
				return fmt.Sprintf("put(%s, %d)", i.Key, i.Value)
			}
			return fmt.Sprintf("get(%s) -> %d", i.Key, out.(kvOutput).Value)
		},
	}
}

// history records client operations with invocation and response times.
type history struct {
	start time.Time
	seq   atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
	// indeterminate counts writes whose outcome is unknown.
	indeterminate int
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(op porcupine.Operation, unknown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if unknown {
		h.indeterminate++
	}
}

// definite reports whether a failed request certainly changed nothing:
// it never reached a server, or the server refused it before proposing.
func definite(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var e *api.Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict:
			return true
		}
	}
	return false
}

// run is one client: until ctx ends it writes or reads a random key
// through c, a few times a second.
func (h *history) run(ctx context.Context, id int, c *api.Client, keys []string) {
	c.Consistent = true
	for ctx.Err() == nil {
		key := keys[rand.IntN(len(keys))]
		var err error
		if rand.IntN(2) == 0 {
			err = h.write(id, c, key, 1000+int(h.seq.Add(1)))
		} else {
			err = h.read(id, c, key)
		}
		pause := 150 * time.Millisecond
		if err != nil {
			pause = 400 * time.Millisecond // fewer open-ended writes while a node is down
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

func (h *history) write(id int, c *api.Client, key string, value int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	call := h.now()
	_, err := c.Apply(ctx, key+".yaml", []byte(serviceYAML(key, value, 50)))
	ret := h.now()
	switch {
	case err == nil:
	case definite(err):
		return err
	default:
		ret = math.MaxInt64
	}
	h.add(porcupine.Operation{ClientId: id, Input: kvInput{Key: key, Write: true, Value: value}, Call: call, Output: kvOutput{}, Return: ret}, err != nil)
	return err
}

func (h *history) read(id int, c *api.Client, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	call := h.now()
	raw, err := c.Get(ctx, "services", key)
	ret := h.now()
	var e *api.Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		h.add(porcupine.Operation{ClientId: id, Input: kvInput{Key: key}, Call: call, Output: kvOutput{}, Return: ret}, false)
		return nil
	}
	if err != nil {
		return err // a failed read observed nothing
	}
	var s config.Service
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	h.add(porcupine.Operation{ClientId: id, Input: kvInput{Key: key}, Call: call, Output: kvOutput{Value: int(s.Spec.Port)}, Return: ret}, false)
	return nil
}

// check runs porcupine over the history. On a violation (or a checker
// time-out) it writes the visualisation to a directory kept after the
// test and fails.
func (h *history) check(t *testing.T) (ops, unknown int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(kvModel(), h.ops, 3*time.Minute)
	if res != porcupine.Ok {
		dir, err := os.MkdirTemp("", "sluice-chaos-")
		if err == nil {
			path := filepath.Join(dir, "linearizability.html")
			if verr := porcupine.VisualizePath(kvModel(), info, path); verr == nil {
				t.Errorf("visualisation of the history: %s", path)
			}
		}
		t.Fatalf("linearizability check of %d operations: %s", len(h.ops), res)
	}
	return len(h.ops), h.indeterminate
}

// TestKVModel checks that the model the chaos suite checks histories
// against tells a linearizable history from a stale read, and lets a write
// of unknown outcome take effect or not.
func TestKVModel(t *testing.T) {
	w := func(c int, v int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: kvInput{Key: "k", Write: true, Value: v}, Call: call, Output: kvOutput{}, Return: ret}
	}
	r := func(c int, v int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: kvInput{Key: "k"}, Call: call, Output: kvOutput{Value: v}, Return: ret}
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"read after write", []porcupine.Operation{w(0, 1, 0, 10), r(1, 1, 20, 30)}, true},
		{"concurrent read may see either", []porcupine.Operation{w(0, 1, 0, 10), w(0, 2, 20, 40), r(1, 1, 25, 30)}, true},
		{"stale read after a newer write returned", []porcupine.Operation{w(0, 1, 0, 10), w(0, 2, 20, 30), r(1, 1, 40, 50)}, false},
		{"read of a value never written", []porcupine.Operation{w(0, 1, 0, 10), r(1, 7, 20, 30)}, false},
		{"unknown write seen", []porcupine.Operation{w(0, 1, 0, math.MaxInt64), r(1, 1, 20, 30)}, true},
		{"unknown write never seen", []porcupine.Operation{w(0, 1, 0, math.MaxInt64), r(1, 0, 20, 30)}, true},
		{"unknown write seen then unseen", []porcupine.Operation{w(0, 1, 0, math.MaxInt64), r(1, 1, 20, 30), r(1, 0, 40, 50)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(kvModel(), tc.ops); got != tc.ok {
				t.Fatalf("linearizable = %v, want %v", got, tc.ok)
			}
		})
	}
}
