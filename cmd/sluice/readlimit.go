package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// errInputTooLarge is returned when a file or stdin holds more than the
// command would send: reading stops at the limit, so a huge or endless input
// cannot exhaust the CLI's memory.
var errInputTooLarge = errors.New("input too large")

// readLimited reads all of r, or fails with errInputTooLarge after limit
// bytes. name says where the input came from, for the message.
func readLimited(name string, r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes (the server accepts at most %d per request; split the file)", name, errInputTooLarge, limit, limit)
	}
	return data, nil
}

// readFileLimited is readLimited on a named file.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(path, f, limit)
}
