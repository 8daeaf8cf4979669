package api

import (
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/state"
)

// trainEvent is the event a person's action on a train is.
func trainEvent(verb string, t *state.Train, msg string) (state.TrainEvent, bool) {
	on := state.OnTrainNow(t, msg)
	switch verb {
	case "pause":
		return &state.PauseTrain{OnTrain: on}, true
	case "resume":
		return &state.ResumeTrain{OnTrain: on}, true
	case "rollback":
		return &state.RollbackTrain{OnTrain: on}, true
	case "abort":
		return &state.AbortTrain{OnTrain: on}, true
	}
	return nil, false
}

// TrainView is a train with its members' releases, as the API returns it.
type TrainView struct {
	*state.Train
	Releases map[string]*state.Release `json:"releases"`
}

func (s *Server) trainView(name string) (*TrainView, bool) {
	st := s.cluster.State()
	t, ok := st.Trains[name]
	if !ok {
		return nil, false
	}
	v := &TrainView{Train: t, Releases: map[string]*state.Release{}}
	for _, m := range t.Status.Members {
		v.Releases[m.Name] = st.Releases[m.Release]
	}
	return v, true
}

// TrainSummary is one row of GET /v1/trains.
type TrainSummary struct {
	Name    string           `json:"name"`
	Phase   state.TrainPhase `json:"phase"`
	Members int              `json:"members"`
	Failed  string           `json:"failedMember,omitempty"`
	Reason  string           `json:"reason,omitempty"`
}

func summarizeTrain(t *state.Train) TrainSummary {
	return TrainSummary{Name: t.Name(), Phase: t.Status.Phase, Members: len(t.Status.Members), Failed: t.Status.FailedMember, Reason: t.Status.Reason}
}

func (s *Server) listTrains(w http.ResponseWriter, _ *http.Request) {
	st := s.cluster.State()
	out := struct {
		Items []TrainSummary `json:"items"`
	}{Items: []TrainSummary{}}
	for _, n := range st.TrainNames() {
		out.Items = append(out.Items, summarizeTrain(st.Trains[n]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTrain(w http.ResponseWriter, r *http.Request) {
	v, ok := s.trainView(r.PathValue("name"))
	if !ok {
		s.writeError(w, fmt.Errorf("%w: ReleaseTrain %q", state.ErrNotFound, r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// trainActionHandler applies a person's pause/resume/rollback/abort.
func (s *Server) trainActionHandler(w http.ResponseWriter, r *http.Request) {
	name, verb := r.PathValue("name"), r.PathValue("action")
	req, err := actionRequest(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	t, ok := s.cluster.State().Trains[name]
	if !ok {
		s.writeError(w, fmt.Errorf("%w: ReleaseTrain %q", state.ErrNotFound, name))
		return
	}
	e, ok := trainEvent(verb, t, actionMessage(r, verb, req.Reason))
	if !ok {
		s.writeError(w, fmt.Errorf("%w: unknown train action %q (known: pause, resume, rollback, abort)", errBadRequest, verb))
		return
	}
	if _, _, err := s.propose(r, e.Type(), e); err != nil {
		s.writeError(w, err)
		return
	}
	s.log.Info("train action", "actor", actor(r), "train", name, "action", verb, "reason", req.Reason)
	v, _ := s.trainView(name)
	writeJSON(w, http.StatusOK, v)
}
