package envoytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Validate runs `envoy --mode validate` on a configuration (YAML or JSON):
// Envoy builds listeners, routes and clusters without serving. It returns
// Envoy's output, and an error when Envoy refused the configuration.
func Validate(bin string, config []byte) (string, error) {
	dir, err := os.MkdirTemp("", "envoy-validate-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--mode", "validate", "-c", path,
		"--disable-hot-restart", "-l", "warn").CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("envoy --mode validate: %w", err)
	}
	return string(out), nil
}
