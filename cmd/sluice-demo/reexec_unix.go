//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// reexec replaces the process with a fresh copy of itself (same pid and
// arguments) running with env.
func reexec(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to restart with the xDS bootstrap: %w", err)
	}
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("restart %s with the xDS bootstrap: %w", exe, err)
	}
	return nil
}
