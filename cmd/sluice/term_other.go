//go:build !unix

package main

import "io"

// terminalWidth: without a known way to ask, nothing is a terminal, and
// watches print appended lines.
func terminalWidth(io.Writer) (int, bool) { return 0, false }
