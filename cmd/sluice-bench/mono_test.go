package main

import (
	"testing"
	"time"
)

func TestMonoClockReadsCLOCK_MONOTONIC(t *testing.T) {
	before := monoNow()
	c := newMonoClock()
	got := c.toMono(time.Now())
	after := monoNow()
	if got < before-c.slack || got > after+c.slack {
		t.Fatalf("toMono(now) = %d, not within [%d, %d] ± %d", got, before, after, c.slack)
	}
}

// The parent and the child each take their own pair of readings; a time
// sent one way and a time sent back must keep their distance.
func TestMonoClockRoundTripAcrossClocks(t *testing.T) {
	parent := newMonoClock()
	t0 := time.Now()
	since := parent.toMono(t0)

	child := newMonoClock()
	local := child.fromMono(since)
	ack := local.Add(1500 * time.Microsecond)
	back := parent.fromMono(child.toMono(ack))

	if d := back.Sub(t0) - 1500*time.Microsecond; d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("round trip moved the ACK by %s", d)
	}
	if back.Sub(t0) <= 0 {
		t.Fatalf("ACK came back before the start: %s", back.Sub(t0))
	}
}
