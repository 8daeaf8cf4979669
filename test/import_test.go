package test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/importer"
)

// TestImportAppliesToServer converts every documentation example in
// importer/testdata with the sluice binary (`sluice import FORMAT -f`),
// applies the output to a real server process and reads the policy back:
// what import prints is accepted by a server as it is, and the report
// goes to stderr with exit status 0.
func TestImportAppliesToServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	procs := startCluster(t, 1)
	cl := procs[0].client()
	// An OpenSLO SLO names a Service that exists already.
	for _, svc := range []string{"foo", "web-availability"} {
		_, err := cl.Apply(ctxT(t), svc+".yaml", []byte("apiVersion: sluice.dev/v1alpha1\nkind: Service\nmetadata: {name: "+svc+"}\n"+
			"spec: {protocol: http, port: 8081, domains: ["+svc+".example.com], versions: [{name: v1, endpoints: [{address: \"127.0.0.1:9001\"}]}]}\n"))
		require.NoError(t, err)
	}
	inputs, err := filepath.Glob("../importer/testdata/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		name := filepath.Base(in)
		format := strings.SplitN(name, "-", 2)[0]
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(sluiceBin, "import", format, "-f", in)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
			require.Contains(t, stderr.String(), "without an exact Sluice equivalent", "the report goes to stderr")

			docs, err := config.Parse(name, stdout.Bytes())
			require.NoError(t, err)
			_, err = cl.Apply(ctxT(t), name, stdout.Bytes())
			require.NoError(t, err, "the server refused the converted documents:\n%s", stdout.String())
			for _, d := range docs {
				if d.Kind != config.KindReleasePolicy {
					continue
				}
				raw, err := cl.Get(ctxT(t), "releasepolicies", d.Name)
				require.NoError(t, err)
				var got config.ReleasePolicy
				require.NoError(t, json.Unmarshal(raw, &got))
				require.Equal(t, d.ReleasePolicy.Spec.Services, got.Spec.Services)
				require.Len(t, got.Spec.Steps, len(d.ReleasePolicy.Spec.Steps), "the server holds the converted plan")
				if d.ReleasePolicy.Spec.SLO != nil {
					require.NotNil(t, got.Spec.SLO)
					require.Equal(t, d.ReleasePolicy.Spec.SLO.Objective, got.Spec.SLO.Objective)
				}
			}
		})
	}
	t.Run("unreadable input exits non-zero", func(t *testing.T) {
		cmd := exec.Command(sluiceBin, "import", string(importer.FormatFlagger), "-f", "-")
		cmd.Stdin = strings.NewReader("kind: [Canary\n")
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(out), "malformed")
	})
}
