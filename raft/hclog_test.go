package raft

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var h hclog.Logger = newHCLogAdapter(l, "")

	assert.False(t, h.IsTrace())
	assert.False(t, h.IsDebug())
	assert.True(t, h.IsInfo())
	assert.True(t, h.IsError())
	assert.Equal(t, hclog.Info, h.GetLevel())

	h.Debug("hidden", "k", 1)
	h.Named("transport").With("peer", "n2").Warn("failed to contact", "error", "refused")
	h.Info("entering follower state", "term", 3)
	h.Log(hclog.Off, "never")

	lines := decodeLines(t, &buf)
	require.Len(t, lines, 2)
	assert.Equal(t, "WARN", lines[0]["level"])
	assert.Equal(t, "failed to contact", lines[0]["msg"])
	assert.Equal(t, "transport", lines[0]["logger"])
	assert.Equal(t, "n2", lines[0]["peer"])
	assert.Equal(t, "refused", lines[0]["error"])
	assert.Equal(t, "INFO", lines[1]["level"])
	assert.Equal(t, float64(3), lines[1]["term"])
	assert.NotContains(t, lines[1], "logger")

	buf.Reset()
	h.Named("a").Named("b").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}).Print("from std log")
	lines = decodeLines(t, &buf)
	require.Len(t, lines, 1)
	assert.Equal(t, "ERROR", lines[0]["level"])
	assert.Equal(t, "a.b", lines[0]["logger"])
	assert.Equal(t, "from std log", lines[0]["msg"])

	named := h.Named("x").ResetNamed("y")
	assert.Equal(t, "y", named.Name())
}
