package variant

import (
	"fmt"
	"testing"

	"github.com/streambench/streambench/impls/conformance"
)

// BenchmarkVariants runs every built-in variant through the same driver,
// so `go test -bench Variants -count 10 ./impls/variant | benchstat -col
// /variant -` compares them all. One op is one 64-byte chunk.
func BenchmarkVariants(b *testing.B) {
	for _, v := range Builtin() {
		for _, streams := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("variant=%s/streams=%d", v.Name, streams), func(b *testing.B) {
				conformance.Bench(b, v.New, streams, v.Traits())
			})
		}
	}
}
