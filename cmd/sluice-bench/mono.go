package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// Times cross the pipe between the benchmark and its client process as
// readings of CLOCK_MONOTONIC, which both processes of one machine share
// and which never steps. Wall-clock nanoseconds would not do: the parent
// measures with Go's monotonic clock, so a stepped wall clock moved every
// ACK time the child reported against the parent's start of the round.

// monoNow reads CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// CLOCK_MONOTONIC exists on every Linux; nothing to fall back on.
		panic("sluice-bench: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

// monoClock converts between time.Time values that carry Go's monotonic
// reading and CLOCK_MONOTONIC nanoseconds, through one pair of readings
// taken together. Only the monotonic readings take part (time.Time.Sub
// and Add use them), never the wall clock.
type monoClock struct {
	at   time.Time
	mono int64
	// slack bounds the error of the pair, in nanoseconds: time.Now was
	// read between two CLOCK_MONOTONIC readings slack*2 apart, and mono is
	// their midpoint.
	slack int64
}

// newMonoClock takes the pair of readings whose bracketing readings were
// closest of a few tries: a preemption between them would otherwise
// shift every conversion.
func newMonoClock() monoClock {
	var best monoClock
	for i := 0; i < 5; i++ {
		m0 := monoNow()
		at := time.Now()
		m1 := monoNow()
		if c := (monoClock{at: at, mono: m0 + (m1-m0)/2, slack: (m1-m0)/2 + 1}); i == 0 || c.slack < best.slack {
			best = c
		}
	}
	return best
}

// toMono is t as CLOCK_MONOTONIC nanoseconds; t must come from time.Now
// (or be derived from such a value by Add) in this process.
func (c monoClock) toMono(t time.Time) int64 { return c.mono - int64(c.at.Sub(t)) }

// fromMono is the time of a CLOCK_MONOTONIC reading, as a time.Time
// carrying a monotonic reading of this process.
func (c monoClock) fromMono(ns int64) time.Time { return c.at.Add(time.Duration(ns - c.mono)) }
