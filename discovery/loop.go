package discovery

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Cluster is what the discovery loop needs from the Raft node.
type Cluster interface {
	State() *state.State
	IsLeader() bool
	Apply(ctx context.Context, cmd state.Command) (any, error)
	LeaderChanges() (<-chan bool, func())
	Subscribe() (<-chan struct{}, func())
}

// Options tune the loop.
type Options struct {
	// Resolver looks DNS names up; required when a version names one.
	Resolver Lookuper
	// Prober runs health checks (default NetProber).
	Prober Prober
	// Now is the leader's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Actor is recorded with the observations.
	Actor string
}

// rescan is how often the versions to watch are listed again when no
// state change came (leadership notifications are not trusted alone).
const rescan = time.Second

// proposeTimeout bounds one proposal.
const proposeTimeout = 10 * time.Second

// Loop watches every discovery source while its node leads.
type Loop struct {
	cluster Cluster
	opts    Options
	log     *slog.Logger
}

// New returns a loop; call Run.
func New(c Cluster, opts Options) *Loop {
	if opts.Prober == nil {
		opts.Prober = &NetProber{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Actor == "" {
		opts.Actor = "discovery"
	}
	return &Loop{cluster: c, opts: opts, log: opts.Logger}
}

// Run watches the sources while this node leads, until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	ch, cancel := l.cluster.LeaderChanges()
	defer cancel()
	for ctx.Err() == nil {
		if l.cluster.IsLeader() {
			l.runTerm(ctx, ch)
			continue
		}
		select {
		case <-ctx.Done():
		case <-ch:
		case <-time.After(rescan):
		}
	}
}

// running is a watcher started, with the spec it was started for.
type running struct {
	spec   string
	cancel context.CancelFunc
	done   chan struct{}
}

// runTerm runs one watcher per version with a discovery source, started,
// restarted and stopped as the specs change, until leadership is lost;
// then every watcher is stopped and waited for, so none outlives the term.
func (l *Loop) runTerm(ctx context.Context, ch <-chan bool) {
	changes, unsubscribe := l.cluster.Subscribe()
	defer unsubscribe()
	l.log.Info("leading: endpoint discovery started")
	watchers := map[string]*running{}
	var wg sync.WaitGroup
	defer func() {
		for _, r := range watchers {
			r.cancel()
		}
		wg.Wait()
		l.log.Info("endpoint discovery stopped")
	}()
	for l.cluster.IsLeader() {
		l.reconcile(ctx, watchers, &wg)
		select {
		case <-ctx.Done():
			return
		case leader := <-ch:
			if !leader {
				return
			}
		case <-changes:
		case <-time.After(rescan):
		}
	}
}

// reconcile starts a watcher for every version with a discovery source
// that has none (or one for an older spec), and stops the others.
func (l *Loop) reconcile(ctx context.Context, watchers map[string]*running, wg *sync.WaitGroup) {
	want := map[string]target{}
	specs := map[string]string{}
	st := l.cluster.State()
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		for i := range svc.Spec.Versions {
			v := &svc.Spec.Versions[i]
			if v.Discovery == nil {
				continue
			}
			t := target{service: name, version: v.Name, spec: v.Discovery}
			b, _ := json.Marshal(v.Discovery)
			want[t.key()], specs[t.key()] = t, string(b)
		}
	}
	for key, r := range watchers {
		if _, ok := want[key]; !ok || specs[key] != r.spec {
			r.cancel()
			<-r.done
			delete(watchers, key)
			if !ok {
				l.log.Info("stopped watching", "target", key)
			}
		}
	}
	for key, t := range want {
		if _, ok := watchers[key]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		r := &running{spec: specs[key], cancel: cancel, done: make(chan struct{})}
		watchers[key] = r
		w := l.newWatcher(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done)
			w.run(wctx)
		}()
		l.log.Info("watching", "target", key, "source", t.spec.Source())
	}
}

// propose commits one observation.
func (l *Loop) propose(ctx context.Context, e *state.ObserveEndpoints) error {
	cmd, err := state.EventCommand(e, l.opts.Now(), l.opts.Actor)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	if _, err := l.cluster.Apply(actx, cmd); err != nil {
		return err
	}
	l.log.Info("endpoints recorded", "service", e.Service, "version", e.Version, "source", e.Source,
		"endpoints", len(e.Endpoints), "failed", e.Failure != nil)
	return nil
}
