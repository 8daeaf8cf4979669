package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/test/xdsload"
)

// The fan-out client runs in a child process (`sluice-bench client`) so
// that the parent's heap and goroutine stacks are the server's alone and
// the client's garbage collector never stops the server. Parent and child
// talk over the child's stdin and stdout, one JSON object per line; the
// child's stderr is the parent's. Times cross the pipe as CLOCK_MONOTONIC
// nanoseconds (mono.go).

// childRequest is one command to the child.
type childRequest struct {
	Op   string          `json:"op"` // "open", "await" or "close"
	Addr string          `json:"addr,omitempty"`
	Want xdsload.Weights `json:"want,omitempty"`
	// Since is CLOCK_MONOTONIC nanoseconds.
	Since      int64  `json:"since,omitempty"`
	MinVersion uint64 `json:"minVersion,omitempty"`
	TimeoutNs  int64  `json:"timeoutNs,omitempty"`
}

// childResponse is the child's answer to one request.
type childResponse struct {
	Error string `json:"error,omitempty"`
	// Acks are CLOCK_MONOTONIC nanoseconds, one per stream.
	Acks []int64 `json:"acks,omitempty"`
	// CPUNs is the child's CPU time so far, user and system.
	CPUNs int64 `json:"cpuNs"`
}

// errChild is returned when the client process fails or answers an error.
var errChild = errors.New("client process")

// remoteFleet is an xdsload.Fleet whose streams live in a child process,
// started by Open and ended by Close.
type remoteFleet struct {
	streams, perConn int
	delta            bool
	cmd              *exec.Cmd
	in               io.WriteCloser
	out              *bufio.Reader
	enc              *json.Encoder
	done             chan struct{}
	cpu              time.Duration // as of the child's last answer
}

var _ xdsload.CPUMeter = (*remoteFleet)(nil)

// CPUTime implements xdsload.CPUMeter: the client process's CPU time as
// of its last answer.
func (f *remoteFleet) CPUTime() time.Duration { return f.cpu }

func (f *remoteFleet) Open(ctx context.Context, addr string, want xdsload.Weights) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: find own executable: %w", errChild, err)
	}
	f.cmd = exec.Command(exe, "client", "--streams", strconv.Itoa(f.streams), "--conns-per", strconv.Itoa(f.perConn),
		"--delta="+strconv.FormatBool(f.delta))
	f.cmd.Stderr = os.Stderr
	if f.in, err = f.cmd.StdinPipe(); err != nil {
		return fmt.Errorf("%w: %w", errChild, err)
	}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %w", errChild, err)
	}
	if err := f.cmd.Start(); err != nil {
		return fmt.Errorf("%w: start: %w", errChild, err)
	}
	f.out, f.enc, f.done = bufio.NewReaderSize(stdout, 1<<20), json.NewEncoder(f.in), make(chan struct{})
	go func() { _ = f.cmd.Wait(); close(f.done) }()
	_, err = f.call(ctx, childRequest{Op: "open", Addr: addr, Want: want})
	return err
}

func (f *remoteFleet) Await(ctx context.Context, since time.Time, minVersion uint64, want xdsload.Weights) ([]time.Time, error) {
	clock := newMonoClock()
	acks, err := f.call(ctx, childRequest{Op: "await", Since: clock.toMono(since), MinVersion: minVersion, Want: want})
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(acks))
	for i, ns := range acks {
		out[i] = clock.fromMono(ns)
	}
	return out, nil
}

func (f *remoteFleet) Close() error {
	if f.cmd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := f.call(ctx, childRequest{Op: "close"})
	f.in.Close()
	select {
	case <-f.done:
	case <-ctx.Done():
		_ = f.cmd.Process.Kill()
		<-f.done
	}
	f.cmd = nil
	return err
}

// call sends one request and reads its answer; if ctx ends first the child
// is killed, since its pipe can no longer be trusted to be in step.
func (f *remoteFleet) call(ctx context.Context, req childRequest) ([]int64, error) {
	if dl, ok := ctx.Deadline(); ok {
		// The child gives up a little earlier, so its own error, which
		// says how far it got, arrives before the parent's deadline.
		req.TimeoutNs = int64(max(time.Until(dl)*9/10, time.Millisecond))
	}
	if err := f.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("%w: send %s: %w", errChild, req.Op, err)
	}
	type result struct {
		resp childResponse
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := f.out.ReadBytes('\n')
		if err != nil {
			ch <- result{err: fmt.Errorf("%w: read answer to %s: %w", errChild, req.Op, err)}
			return
		}
		var r childResponse
		if err := json.Unmarshal(line, &r); err != nil {
			ch <- result{err: fmt.Errorf("%w: decode answer to %s: %w", errChild, req.Op, err)}
			return
		}
		ch <- result{resp: r}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		f.cpu = time.Duration(r.resp.CPUNs)
		if r.resp.Error != "" {
			return nil, fmt.Errorf("%w: %s: %s", errChild, req.Op, r.resp.Error)
		}
		return r.resp.Acks, nil
	case <-ctx.Done():
		_ = f.cmd.Process.Kill()
		return nil, fmt.Errorf("%w: %s: %w", errChild, req.Op, ctx.Err())
	}
}

// cpuTime is this process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newClientCmd() *cobra.Command {
	var streams, perConn int
	var delta bool
	cmd := &cobra.Command{
		Use:    "client",
		Short:  "Run the fan-out load client, driven over stdin/stdout (used by fanout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := raiseNoFile(uint64(streams/max(perConn, 1)) + 256); err != nil {
				return err
			}
			return serveClient(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), fleetOptions(streams, perConn, delta))
		},
	}
	cmd.Flags().IntVar(&streams, "streams", 1000, "number of ADS streams")
	cmd.Flags().IntVar(&perConn, "conns-per", 100, "streams per gRPC connection")
	cmd.Flags().BoolVar(&delta, "delta", false, "open delta ADS streams")
	return cmd
}

// serveClient answers the parent's requests until stdin closes.
func serveClient(ctx context.Context, in io.Reader, out io.Writer, opts xdsload.Options) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	w := bufio.NewWriterSize(out, 1<<20)
	enc := json.NewEncoder(w)
	fleet := xdsload.NewLocalFleet(opts)
	defer fleet.Close()
	for {
		var req childRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read request: %w", err)
		}
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if req.TimeoutNs > 0 {
			rctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutNs))
		}
		var resp childResponse
		var err error
		switch req.Op {
		case "open":
			err = fleet.Open(rctx, req.Addr, req.Want)
		case "await":
			clock := newMonoClock()
			var acks []time.Time
			acks, err = fleet.Await(rctx, clock.fromMono(req.Since), req.MinVersion, req.Want)
			resp.Acks = make([]int64, len(acks))
			for i, a := range acks {
				resp.Acks[i] = clock.toMono(a)
			}
		case "close":
			err = fleet.Close()
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		cancel()
		if err != nil {
			resp = childResponse{Error: err.Error()}
		}
		resp.CPUNs = int64(cpuTime())
		if err := enc.Encode(resp); err != nil {
			return fmt.Errorf("write answer: %w", err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write answer: %w", err)
		}
	}
}
