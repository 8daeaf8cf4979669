package state

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analysis"
)

// Log format 1 (raft/DESIGN.md, "Versioning the log"): every release
// change was one release.update command and every train change one
// train.update, each with an action name and a bag of optional fields;
// holds were text. Entries written so still replay: they decode here into
// today's events, and snapshots of that time decode into today's state.
// This file is the only place that reads hold text.
const (
	cmdLegacyReleaseUpdate Type = "release.update"
	cmdLegacyTrainUpdate   Type = "train.update"
)

// legacyReleaseUpdate is format 1's release.update payload.
type legacyReleaseUpdate struct {
	Name            string             `json:"name"`
	Action          string             `json:"action"`
	ExpectPhase     Phase              `json:"expectPhase"`
	ExpectStep      int                `json:"expectStep"`
	ExpectStepIndex uint64             `json:"expectStepIndex,omitempty"`
	Counters        *analysis.Counters `json:"counters,omitempty"`
	Holding         string             `json:"holding,omitempty"`
	Message         string             `json:"message"`
	Verdict         []byte             `json:"verdict,omitempty"`
	Exposure        *Exposure          `json:"exposure,omitempty"`
	ApproveStep     int                `json:"approveStep,omitempty"`
	ApproveGate     string             `json:"approveGate,omitempty"`
	StartNow        bool               `json:"startNow,omitempty"`
	ScheduledAt     time.Time          `json:"scheduledAt,omitempty"`
	Schedule        []byte             `json:"schedule,omitempty"`
	Window          StartWindow        `json:"window,omitempty"`
}

func decodeLegacyRelease(c Command) (change, error) {
	var u legacyReleaseUpdate
	if err := decodePayload(c, &u); err != nil {
		return nil, err
	}
	on := On{Release: u.Name, Expect: Expect{Phase: u.ExpectPhase, Step: u.ExpectStep, StepIndex: u.ExpectStepIndex}, Message: u.Message}
	verdict := json.RawMessage(u.Verdict)
	var e ReleaseEvent
	switch u.Action {
	case "start":
		e = &StartRelease{On: on, Window: u.Window, Exposure: u.Exposure}
	case "ack":
		e = &AckStep{On: on}
	case "analysis":
		e = &RecordAnalysis{On: on, Verdict: verdict, Counters: u.Counters, Hold: legacyHold(u.Holding), Exposure: u.Exposure}
	case "hold":
		e = &HoldRelease{On: on, Hold: legacyHoldValue(u.Holding), Exposure: u.Exposure}
	case "advance":
		e = &AdvanceStep{On: on, Verdict: verdict, Exposure: u.Exposure}
	case "promote":
		e = &Promote{On: on, Ending: Ending{Verdict: verdict, Counters: u.Counters}}
	case "rollback":
		e = &Rollback{On: on, Ending: Ending{Verdict: verdict, Counters: u.Counters}}
	case "abort":
		e = &Abort{On: on}
	case "pause":
		e = &Pause{On: on}
	case "resume":
		e = &Resume{On: on}
	case "await":
		e = &Await{On: on, Hold: legacyHoldValue(u.Message)}
	case "schedule":
		e = &Schedule{On: on, At: u.ScheduledAt, Suggestion: json.RawMessage(u.Schedule)}
	case "approve":
		switch {
		case u.ApproveGate != "":
			e = &OverrideGate{On: on, Gate: u.ApproveGate}
		case u.StartNow:
			e = &ApproveStartNow{On: on}
		default:
			e = &ApproveStep{On: on, Step: u.ApproveStep}
		}
	default:
		return nil, legacyActionError(c, u.Action)
	}
	return releaseChange{e}, nil
}

// legacyTrainUpdate is format 1's train.update payload.
type legacyTrainUpdate struct {
	Name        string        `json:"name"`
	Action      string        `json:"action"`
	ExpectPhase TrainPhase    `json:"expectPhase"`
	Member      string        `json:"member,omitempty"`
	Health      *HealthStatus `json:"health,omitempty"`
	Message     string        `json:"message"`
}

func decodeLegacyTrain(c Command) (change, error) {
	var u legacyTrainUpdate
	if err := decodePayload(c, &u); err != nil {
		return nil, err
	}
	on := OnTrain{Train: u.Name, Expect: u.ExpectPhase, Message: u.Message}
	member := OnMember{OnTrain: on, Member: u.Member}
	var e TrainEvent
	switch u.Action {
	case "health":
		if u.Health == nil {
			return nil, legacyActionError(c, "health without a health status")
		}
		e = &RecordHealth{OnMember: member, Health: *u.Health}
	case "clear":
		e = &ClearMember{OnMember: member}
	case "fail":
		e = &FailTrain{OnMember: member}
	case "unwind":
		e = &UnwindMember{OnMember: member}
	case "finish":
		e = &FinishTrain{OnTrain: on}
	case "rollback":
		e = &RollbackTrain{OnTrain: on}
	case "abort":
		e = &AbortTrain{OnTrain: on}
	case "pause":
		e = &PauseTrain{OnTrain: on}
	case "resume":
		e = &ResumeTrain{OnTrain: on}
	default:
		return nil, legacyActionError(c, u.Action)
	}
	return trainChange{e}, nil
}

func legacyActionError(c Command, action string) error {
	return fmt.Errorf("%w: %s: unknown action %q", ErrBadPayload, c.Type, action)
}

// legacyHoldPrefixes are the beginnings of the hold texts format 1 wrote,
// with the kind each meant.
func legacyHoldPrefixes() []struct {
	prefix string
	kind   HoldKind
} {
	return []struct {
		prefix string
		kind   HoldKind
	}{
		{"exposure budget", HoldExposureBudget},
		{"risk:", HoldRisk},
		{"lockstep:", HoldLockstep},
		{"quality gate(s)", HoldGates},
		{"held: not every proxy group ACKed", HoldAckTimeout},
		{"held: group ", HoldRejected},
		{"outside its release window", HoldNoWindow},
		{"held: ", HoldAnalysis},
	}
}

// legacyHold reads a format 1 hold text; nil for none. A text format 1
// did not write counts as an analysis hold (it only informs).
func legacyHold(text string) *Hold {
	if text == "" {
		return nil
	}
	for _, p := range legacyHoldPrefixes() {
		if strings.HasPrefix(text, p.prefix) {
			return &Hold{Kind: p.kind, Message: text}
		}
	}
	return &Hold{Kind: HoldAnalysis, Message: text}
}

func legacyHoldValue(text string) Hold {
	if h := legacyHold(text); h != nil {
		return *h
	}
	return Hold{Kind: HoldAnalysis}
}

// UnmarshalJSON reads a release status, including one from a format 1
// snapshot, whose hold was the text "holding".
func (s *ReleaseStatus) UnmarshalJSON(b []byte) error {
	type plain ReleaseStatus
	var v struct {
		plain
		Holding string `json:"holding"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ReleaseStatus(v.plain)
	if s.Hold == nil {
		s.Hold = legacyHold(v.Holding)
		if s.Hold != nil && s.Phase == PhaseScheduled {
			s.Hold.Kind = HoldScheduled
		}
	}
	return nil
}
