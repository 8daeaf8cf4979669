package xds

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/state"
)

// FuzzTranslate: any state the FSM accepts translates, for any proxy
// group, either into resources that pass every check a proxy would make,
// or into an error; never a panic.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob("testdata/in/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, "web", "eu-west", "a")
		}
	}
	f.Add([]byte(svcYAML(80)), "c", "r1", "")
	f.Add([]byte(svcYAML(0, "10.0.0.2:80", "[::1]:80")), "", "", "")
	f.Fuzz(func(t *testing.T, data []byte, cluster, region, zone string) {
		docs, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		cmd, err := state.NewCommand(state.CmdApply, time.Unix(0, 0), "fuzz", state.ApplyPayload{Documents: docs})
		if err != nil {
			return
		}
		st, _, err := state.Apply(state.New(), 1, cmd)
		if err != nil {
			return
		}
		g := Group{Cluster: cluster, Region: region, Zone: zone}
		res, err := Translate(st, g)
		if err != nil {
			return
		}
		if err := Check(res); err != nil {
			t.Fatalf("Translate returned resources its own check refuses: %v", err)
		}
		again, err := Translate(st, g)
		if err != nil || len(again.Listeners) != len(res.Listeners) || len(again.Clusters) != len(res.Clusters) {
			t.Fatalf("Translate is not deterministic: %v", err)
		}
	})
}
