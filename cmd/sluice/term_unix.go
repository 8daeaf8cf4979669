//go:build unix

package main

import (
	"io"

	"golang.org/x/sys/unix"
)

// terminalSize reports whether w is a terminal, and its size in columns
// and rows (0 when the terminal does not say).
func terminalSize(w io.Writer) (termSize, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return termSize{}, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return termSize{}, false
	}
	return termSize{cols: int(ws.Col), rows: int(ws.Row)}, true
}
