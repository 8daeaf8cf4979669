//go:build !unix

package main

import "io"

// terminalSize: without a known way to ask, nothing is a terminal, and
// watches print appended lines.
func terminalSize(io.Writer) (termSize, bool) { return termSize{}, false }
