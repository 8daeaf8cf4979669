//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// reexec runs a copy of the process with env, waits for it and exits with
// its status.
func reexec(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable to restart with the xDS bootstrap: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("restart %s with the xDS bootstrap: %w", exe, err)
	}
	os.Exit(0)
	return nil
}
