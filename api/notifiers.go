package api

import (
	"context"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// NotifierStatus is one notifier as GET /v1/notifications reports it: its
// document's filters (never a secret: the document holds only the names
// of environment variables) and its outbox.
type NotifierStatus struct {
	Name string              `json:"name"`
	Type config.NotifierType `json:"type"`
	// Events are the events it sends (empty: all).
	Events   []config.NotifyEvent `json:"events,omitempty"`
	Services []string             `json:"services,omitempty"`
	Trains   []string             `json:"trains,omitempty"`
	// Pending counts the notices not yet delivered; Oldest is the first
	// of them (the one being delivered).
	Pending   int           `json:"pending"`
	Delivered uint64        `json:"delivered"`
	Dropped   uint64        `json:"dropped"`
	Oldest    *OldestNotice `json:"oldest,omitempty"`
}

// OldestNotice says which notice a notifier is delivering, since when.
type OldestNotice struct {
	ID    string             `json:"id"`
	Event config.NotifyEvent `json:"event"`
	Time  time.Time          `json:"time"`
}

// NotifiersResponse is the body of GET /v1/notifications.
type NotifiersResponse struct {
	Index uint64           `json:"index"`
	Items []NotifierStatus `json:"items"`
}

func (s *Server) listNotifiers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, notifierStatuses(s.cluster.State()))
}

func notifierStatuses(st *state.State) NotifiersResponse {
	out := NotifiersResponse{Index: st.Index, Items: []NotifierStatus{}}
	for _, name := range st.NotifierNames() {
		spec := st.Notifiers[name].Spec
		ns := NotifierStatus{Name: name, Type: spec.Type, Events: spec.EventFilter(), Services: spec.Services, Trains: spec.Trains}
		if box := st.Outboxes[name]; box != nil {
			ns.Pending, ns.Delivered, ns.Dropped = len(box.Pending), box.Delivered, box.Dropped
			if len(box.Pending) > 0 {
				n := box.Pending[0]
				ns.Oldest = &OldestNotice{ID: n.ID, Event: n.Event, Time: n.Time}
			}
		}
		out.Items = append(out.Items, ns)
	}
	return out
}

// Notifiers lists the notifiers and their outboxes.
func (c *Client) Notifiers(ctx context.Context) (*NotifiersResponse, error) {
	var out NotifiersResponse
	if err := c.do(ctx, http.MethodGet, "/v1/notifications"+c.readQuery(), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}
