package xds

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNACKMessageKept(t *testing.T) {
	require.Equal(t, "Error adding/updating listener(s) http_1: cannot bind", nackMessage("Error adding/updating listener(s) http_1: cannot bind\n"))
	long := nackMessage(string(make([]byte, 1<<20)))
	require.Len(t, long, maxNACKMessage+3, "a hostile proxy's message is cut")
}
