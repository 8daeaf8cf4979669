package xds

import "testing"

// BenchmarkTranslate1000 translates 1,000 services (half http on ten shared
// ports, half grpc with a port and a domain, so four api listeners each),
// two versions at 90/10 and three endpoints per version in two localities.
// Translate includes Check.
func BenchmarkTranslate1000(b *testing.B) {
	st := testState(1000, 2, 3)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Translate(st, Group{})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Clusters) != 2000 {
			b.Fatalf("got %d clusters, want 2000", len(r.Clusters))
		}
	}
}
