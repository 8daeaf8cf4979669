package promtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigYAML(t *testing.T) {
	require.Equal(t, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: test
    static_configs:
      - targets: ["127.0.0.1:8080", "[::1]:9090"]
`, configYAML(time.Second, []string{"127.0.0.1:8080", "[::1]:9090"}))
	require.Contains(t, configYAML(500*time.Millisecond, nil), "scrape_interval: 500ms\n")
	require.Contains(t, configYAML(time.Second, nil), "targets: []\n")
}
