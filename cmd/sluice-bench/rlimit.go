package main

import (
	"errors"
	"fmt"
	"syscall"
)

// errNoFile is returned when the open-file limit cannot be raised far
// enough for the requested streams.
var errNoFile = errors.New("open-file limit too low")

// raiseNoFile makes sure this process may open at least need files,
// raising the soft limit (and the hard one, where allowed) as needed.
func raiseNoFile(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("%w: need %d open files, the limit is %d (hard %d) and raising it failed (%v); "+
			"raise it with `ulimit -n %d` or use fewer connections (larger --conns-per)", errNoFile, need, lim.Cur, lim.Max, err, need)
	}
	return nil
}
