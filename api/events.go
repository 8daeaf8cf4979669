package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/state"
)

// ErrTooManyStreams is returned when a node already serves MaxEventStreams
// event streams.
var ErrTooManyStreams = errors.New("too many event streams on this node; try another node or later")

// MaxEventStreams bounds the /v1/events streams one node serves at once.
const MaxEventStreams = 128

// Event stream timing: changes are sent at most every eventMinGap (state
// changes in between are coalesced), and a comment line every
// eventHeartbeat keeps idle connections open through proxies.
const (
	eventMinGap    = 250 * time.Millisecond
	eventHeartbeat = 15 * time.Second
)

// Event types of /v1/events.
const (
	// EventHello opens a stream: data is StateEvent.
	EventHello = "hello"
	// EventState follows every batch of changes: data is StateEvent.
	EventState = "state"
	// EventRelease is a release that changed: data is ReleaseSummary
	// (Deleted set when it is gone).
	EventRelease = "release"
	// EventTrain is a train that changed: data is TrainSummary.
	EventTrain = "train"
)

// StateEvent is the data of hello and state events.
type StateEvent struct {
	Index uint64 `json:"index"`
}

// ReleaseEvent is the data of a release event.
type ReleaseEvent struct {
	ReleaseSummary
	Train   string `json:"train,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// TrainEvent is the data of a train event.
type TrainEvent struct {
	TrainSummary
	Deleted bool `json:"deleted,omitempty"`
}

// events streams state changes as server-sent events: one event per
// release and train that changed (the state is copy on write, so a changed
// object is a new pointer), then a state event with the new index. A client
// that falls behind misses nothing it needs: each event carries the
// object's current summary, and GET the object for the rest.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok || s.opts.Subscribe == nil {
		writeJSON(w, http.StatusNotImplemented, ErrorBody{Error: "this node does not stream events"})
		return
	}
	if s.streams.Add(1) > MaxEventStreams {
		s.streams.Add(-1)
		writeJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrTooManyStreams.Error()})
		return
	}
	defer s.streams.Add(-1)
	// The server's read timeout bounds how long a request may take to
	// arrive; a stream's request has arrived and must outlive it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	changes, cancel := s.opts.Subscribe()
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	prev := s.cluster.State()
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return
	}
	if writeEvent(w, EventHello, prev.Index, StateEvent{Index: prev.Index}) != nil {
		return
	}
	flusher.Flush()

	heartbeat := time.NewTicker(eventHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-changes:
			cur := s.cluster.State()
			if err := writeChanges(w, prev, cur); err != nil {
				return
			}
			prev = cur
			flusher.Flush()
			select { // coalesce bursts of changes
			case <-r.Context().Done():
				return
			case <-time.After(eventMinGap):
			}
			continue
		}
		flusher.Flush()
	}
}

// writeChanges writes the events that take a client from prev to cur.
func writeChanges(w http.ResponseWriter, prev, cur *state.State) error {
	if cur.Index == prev.Index {
		return nil
	}
	for _, n := range cur.ReleaseNames() {
		if r := cur.Releases[n]; prev.Releases[n] != r {
			if err := writeEvent(w, EventRelease, cur.Index, ReleaseEvent{ReleaseSummary: summarize(r), Train: r.Status.Train}); err != nil {
				return err
			}
		}
	}
	for _, n := range prev.ReleaseNames() {
		if _, ok := cur.Releases[n]; !ok {
			old := prev.Releases[n]
			if err := writeEvent(w, EventRelease, cur.Index, ReleaseEvent{ReleaseSummary: summarize(old), Train: old.Status.Train, Deleted: true}); err != nil {
				return err
			}
		}
	}
	for _, n := range cur.TrainNames() {
		if t := cur.Trains[n]; prev.Trains[n] != t {
			if err := writeEvent(w, EventTrain, cur.Index, TrainEvent{TrainSummary: summarizeTrain(t)}); err != nil {
				return err
			}
		}
	}
	for _, n := range prev.TrainNames() {
		if _, ok := cur.Trains[n]; !ok {
			if err := writeEvent(w, EventTrain, cur.Index, TrainEvent{TrainSummary: summarizeTrain(prev.Trains[n]), Deleted: true}); err != nil {
				return err
			}
		}
	}
	return writeEvent(w, EventState, cur.Index, StateEvent{Index: cur.Index})
}

// writeEvent writes one server-sent event. JSON has no raw newlines, so
// the data is one line.
func writeEvent(w http.ResponseWriter, event string, id uint64, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, b)
	return err
}
