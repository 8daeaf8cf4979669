package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/config"
)

const holidays = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1@test\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\nSUMMARY:Christmas \"holidays\"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

func TestResolveICSFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "holidays.ics"), []byte(holidays), 0o600))
	policy := `apiVersion: sluice.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: p}
spec:
  services: [web]
  schedule:
    timezone: Europe/Berlin
    calendar:
      icsFile: holidays.ics   # resolved by sluice apply
    onCall: {icsFile: "holidays.ics"}
  bogus: 1
`
	file := filepath.Join(dir, "policy.yaml")
	out, err := resolveICSFiles(file, []byte(policy))
	require.NoError(t, err)
	docs, err := config.Parse(file, out)
	// The unknown field is still reported on its own line: line numbers
	// did not move.
	require.Error(t, err)
	require.Contains(t, err.Error(), "policy.yaml:11:3: ReleasePolicy \"p\": spec.bogus: unknown field")
	_ = docs

	out, err = resolveICSFiles(file, []byte(policy[:len(policy)-len("  bogus: 1\n")]))
	require.NoError(t, err)
	docs, err = config.Parse(file, out)
	require.NoError(t, err)
	s := docs[0].ReleasePolicy.Spec.Schedule
	require.Equal(t, holidays, s.Calendar.ICS)
	require.Equal(t, holidays, s.OnCall.ICS)

	_, err = resolveICSFiles(file, []byte("apiVersion: sluice.dev/v1alpha1\nkind: ReleasePolicy\nmetadata: {name: p}\nspec:\n  schedule:\n    calendar:\n      icsFile: missing.ics\n"))
	require.ErrorContains(t, err, "policy.yaml:7:7: icsFile:")

	// Elsewhere the key means nothing special and is left alone.
	same := []byte("kind: Service\nmetadata: {icsFile: x}\n")
	out, err = resolveICSFiles(file, same)
	require.NoError(t, err)
	require.Equal(t, same, out)
}
