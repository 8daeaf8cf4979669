package state

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/sluicehq/sluice/config"
)

// CmdNotifyAck removes a delivered notice from a notifier's outbox
// (AckNotice).
const CmdNotifyAck Type = "notify.ack"

// MaxOutbox is the most notices one notifier's outbox holds. A notice
// that finds it full is dropped and counted (Outbox.Dropped): release
// progress never waits for notifications.
const MaxOutbox = 500

// MaxNotifiers is the most Notifier documents a cluster holds (so the
// outboxes are bounded too).
const MaxNotifiers = 32

// Notice is one notification: what happened to a release or a train,
// derived by the state machine from a decision it applied (notices,
// below). Its ID is the Raft index of that command and an ordinal within
// it, the same for every notifier: receivers deduplicate on it, since
// delivery is at least once.
type Notice struct {
	ID    string             `json:"id"`
	Event config.NotifyEvent `json:"event"`
	Time  time.Time          `json:"time"`
	// Index is the Raft index of the command the notice comes from.
	Index   uint64 `json:"index"`
	Actor   string `json:"actor,omitempty"`
	Release string `json:"release,omitempty"`
	Service string `json:"service,omitempty"`
	Train   string `json:"train,omitempty"`
	// Phase is the release's (or the train's) phase after the decision.
	Phase string `json:"phase"`
	// Step (1-based) of Steps, and Weight, are the release's after it.
	Step   int    `json:"step,omitempty"`
	Steps  int    `json:"steps,omitempty"`
	Weight uint32 `json:"weight"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Message is the decision's; Hold says why a release holds or waits.
	Message string `json:"message,omitempty"`
	Hold    *Hold  `json:"hold,omitempty"`
	// Verdict is the analysis behind the decision (a rollback's), as
	// recorded with it.
	Verdict json.RawMessage `json:"verdict,omitempty"`
}

// Outbox is one notifier's notices not yet delivered, in order, and its
// counters.
type Outbox struct {
	Pending []Notice `json:"pending,omitempty"`
	// Delivered counts acknowledged notices; Dropped those refused
	// because the outbox was full.
	Delivered uint64 `json:"delivered,omitempty"`
	Dropped   uint64 `json:"dropped,omitempty"`
}

// AckNotice says notice ID was delivered to Notifier. Acknowledging a
// notice that is not pending (another leader acknowledged it, or the
// notifier was deleted) changes nothing: the result says so.
type AckNotice struct {
	Notifier string `json:"notifier"`
	ID       string `json:"id"`
}

// AckResult is what AckNotice did.
type AckResult struct {
	Acked bool `json:"acked"`
}

func (p *AckNotice) apply(t *tx) (any, error) {
	box := t.cur().Outboxes[p.Notifier]
	if box == nil {
		return AckResult{}, nil
	}
	i := slices.IndexFunc(box.Pending, func(n Notice) bool { return n.ID == p.ID })
	if i < 0 {
		return AckResult{}, nil
	}
	ob := t.outbox(p.Notifier)
	ob.Pending = slices.Delete(ob.Pending, i, i+1)
	ob.Delivered++
	return AckResult{Acked: true}, nil
}

// releaseNotices maps a release decision to the notice it makes; the
// decisions missing here make none, unless they end the release
// (releasePhases) or change its hold (holdNotice).
var releaseNotices = map[DecisionKind]config.NotifyEvent{
	DecisionStart:    config.EventReleaseStarted,
	DecisionAdvance:  config.EventReleaseStepAdvanced,
	DecisionSchedule: config.EventReleaseScheduled,
	DecisionAwait:    config.EventReleaseNeedsApproval,
}

// releasePhases maps the phase a release enters to its notice, whichever
// decision moved it there (a train's unwind cancels a member that never
// started: Aborted). An ended release enters no phase that notifies.
var releasePhases = map[Phase]config.NotifyEvent{
	PhaseRollingBack: config.EventReleaseRollingBack,
	PhasePromoted:    config.EventReleasePromoted,
	PhaseRolledBack:  config.EventReleaseRolledBack,
	PhaseAborted:     config.EventReleaseAborted,
}

// trainNotices maps the phase a train enters to its notice.
var trainNotices = map[TrainPhase]config.NotifyEvent{
	TrainProgressing: config.EventTrainStarted,
	TrainPaused:      config.EventTrainPaused,
	TrainRollingBack: config.EventTrainRollingBack,
	TrainPromoted:    config.EventTrainPromoted,
	TrainRolledBack:  config.EventTrainRolledBack,
	TrainAborted:     config.EventTrainAborted,
}

// notify derives the notices of the command t applied and appends them
// to the outbox of every notifier that wants them. It is part of Apply:
// pure, and driven by typed decision kinds and phases only.
func notify(t *tx) {
	if t.next == nil || len(t.next.Notifiers) == 0 {
		return
	}
	var out []Notice
	for _, name := range sortedKeys(t.released) {
		if after := t.next.Releases[name]; after != nil {
			out = append(out, releaseChanges(t.s.Releases[name], after)...)
		}
	}
	for _, name := range sortedKeys(t.trained) {
		if after := t.next.Trains[name]; after != nil {
			out = append(out, trainChanges(t.s.Trains[name], after)...)
		}
	}
	for i := range out {
		out[i].ID = fmt.Sprintf("%d.%d", t.index, i+1)
		out[i].Index, out[i].Time = t.index, t.time
	}
	for _, name := range sortedKeys(t.next.Notifiers) {
		spec := &t.next.Notifiers[name].Spec
		for _, n := range out {
			if spec.Wants(n.Event, n.Service, n.Train) {
				enqueue(t, name, n)
			}
		}
	}
}

func enqueue(t *tx, notifier string, n Notice) {
	ob := t.outbox(notifier)
	if len(ob.Pending) >= MaxOutbox {
		ob.Dropped++
		return
	}
	ob.Pending = append(ob.Pending, n)
}

// releaseChanges are the notices of the decisions recorded on a release
// by one command (before is nil for a release it created).
func releaseChanges(before, after *Release) []Notice {
	var seen int
	var was *Hold
	var phase Phase
	if before != nil {
		seen, was, phase = len(before.Status.Decisions), before.Status.Hold, before.Status.Phase
	}
	if seen >= len(after.Status.Decisions) {
		return nil
	}
	fresh := after.Status.Decisions[seen:]
	var out []Notice
	for _, d := range fresh {
		if e, ok := releaseNotices[d.Action]; ok {
			out = append(out, releaseNotice(after, e, d))
		}
	}
	if e, ok := releasePhases[after.Status.Phase]; ok && !phase.Terminal() && phase != after.Status.Phase {
		return append(out, releaseNotice(after, e, fresh[len(fresh)-1]))
	}
	if len(out) == 0 {
		if e, ok := holdNotice(was, after.Status.Hold); ok {
			out = append(out, releaseNotice(after, e, fresh[len(fresh)-1]))
		}
	}
	return out
}

// holdNotice is the one rule for held and needs-approval notices: a hold
// of a new kind is news, the same hold again is not.
func holdNotice(was, now *Hold) (config.NotifyEvent, bool) {
	if now == nil || was != nil && was.Kind == now.Kind {
		return "", false
	}
	if now.Kind.ClearedByStepApproval() {
		return config.EventReleaseNeedsApproval, true
	}
	return config.EventReleaseHeld, true
}

func releaseNotice(r *Release, e config.NotifyEvent, d Decision) Notice {
	n := Notice{Event: e, Actor: d.Actor, Release: r.Name(), Service: r.Service(), Train: r.Status.Train,
		Phase: string(d.Phase), Weight: d.Weight, From: r.Status.From, To: r.Spec.Spec.To,
		Message: d.Message, Verdict: d.Verdict, Steps: len(r.Status.Plan)}
	if d.Step >= 0 {
		n.Step = d.Step + 1
	}
	if h := r.Status.Hold; h != nil {
		c := *h
		n.Hold = &c
	}
	return n
}

// trainChanges is the notice of a train entering a phase (before is nil
// for a train the command created).
func trainChanges(before, after *Train) []Notice {
	if before != nil && before.Status.Phase == after.Status.Phase {
		return nil
	}
	e, ok := trainNotices[after.Status.Phase]
	if !ok || before != nil && e == config.EventTrainStarted {
		return nil // a resumed train is not news
	}
	n := Notice{Event: e, Train: after.Name(), Phase: string(after.Status.Phase), Message: after.Status.Reason}
	if ds := after.Status.Decisions; len(ds) > 0 {
		d := ds[len(ds)-1]
		n.Actor = d.Actor
		if n.Message == "" {
			n.Message = d.Message
		}
	}
	return []Notice{n}
}

// NotifierNames returns the notifiers' names, sorted.
func (s *State) NotifierNames() []string { return sortedKeys(s.Notifiers) }

// notifiers returns the notifier map, copied for change.
func (t *tx) notifiers() map[string]*config.Notifier {
	w := t.write()
	return owned(t, "notifiers", &w.Notifiers)
}

// outbox returns a notifier's outbox, copied (or created) for change.
func (t *tx) outbox(name string) *Outbox {
	w := t.write()
	return ownedItem(owned(t, "outboxes", &w.Outboxes), t.boxed, name, func(old *Outbox) *Outbox {
		c := &Outbox{}
		if old != nil {
			*c = *old
			c.Pending = slices.Clone(old.Pending)
		}
		return c
	})
}

// putNotifier stores a notifier document; its outbox stays.
func putNotifier(t *tx, n *config.Notifier) (existed, same bool, err error) {
	old, ok := t.s.Notifiers[n.Metadata.Name]
	if ok && reflect.DeepEqual(old, n) {
		return true, true, nil
	}
	if !ok && len(t.cur().Notifiers) >= MaxNotifiers {
		return false, false, config.Errors{{Kind: config.KindNotifier, Name: n.Metadata.Name,
			Message: fmt.Sprintf("at most %d notifiers are allowed; delete one first", MaxNotifiers)}}
	}
	t.notifiers()[n.Metadata.Name] = n
	return ok, false, nil
}

// deleteNotifier removes a notifier and its outbox (what it never
// delivered is dropped with it).
func deleteNotifier(t *tx, name string) error {
	if _, ok := t.s.Notifiers[name]; !ok {
		return fmt.Errorf("%w: Notifier %q", ErrNotFound, name)
	}
	delete(t.notifiers(), name)
	if _, ok := t.s.Outboxes[name]; ok {
		w := t.write()
		delete(owned(t, "outboxes", &w.Outboxes), name)
	}
	return nil
}
