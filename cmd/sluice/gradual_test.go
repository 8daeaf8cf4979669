package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/state"
)

func TestRollbackLine(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rb := &state.RollbackStatus{Weights: []uint32{34, 17, 0}, Step: 1, From: 50, NextStepAt: now.Add(12 * time.Second), Bar: 30}
	rs := &state.ReleaseStatus{Phase: state.PhaseRollingBack, Rollback: rb}
	require.Equal(t, "gradual from 50%: 34% -> 17% -> 0% (step 2 of 3); next step back in 12s; instant if the short-window burn exceeds 30.0",
		rollbackLine(rs, rb, now))
	rs.Phase = state.PhaseRolledBack
	rb.Instant = &state.BurnReading{Rule: "fast", Burn: 95}
	require.Equal(t, "gradual from 50%: 34% -> 17% -> 0% (step 2 of 3); switched to instant: short-window burn 95.0 (rule fast) > 30.0",
		rollbackLine(rs, rb, now))
}
