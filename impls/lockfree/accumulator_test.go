package lockfree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestAccumulatorAppend(t *testing.T) {
	tests := []struct {
		name   string
		limit  int64
		segs   []string
		accept []bool
		want   string
	}{
		{"no cap", 0, []string{"ab", "", "cde"}, []bool{true, true, true}, "abcde"},
		{"exact fit", 5, []string{"ab", "cde"}, []bool{true, true}, "abcde"},
		{"one byte over", 4, []string{"ab", "cde"}, []bool{true, false}, "ab"},
		{"a refused segment leaves room for a smaller one", 4, []string{"ab", "cde", "cd", "e"}, []bool{true, false, true, false}, "abcd"},
		{"empty segment at the cap", 2, []string{"ab", ""}, []bool{true, true}, "ab"},
		{"first segment too large", 1, []string{"ab"}, []bool{false}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAccumulator(tt.limit)
			var accepted int
			for i, s := range tt.segs {
				if got := a.Append([]byte(s)); got != tt.accept[i] {
					t.Errorf("Append(%q) = %v, want %v", s, got, tt.accept[i])
				}
				if tt.accept[i] {
					accepted++
				}
			}
			if got := a.Bytes(); string(got) != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			if a.Len() != int64(len(tt.want)) || a.Count() != accepted {
				t.Errorf("Len %d Count %d, want %d and %d", a.Len(), a.Count(), len(tt.want), accepted)
			}
		})
	}
}

func TestAccumulatorZeroCopy(t *testing.T) {
	var a Accumulator // the zero value is usable
	seg := []byte("xyz")
	a.Append(seg)
	for got := range a.Segments(1) {
		if &got[0] != &seg[0] {
			t.Error("Append copied the segment")
		}
	}
}

func TestAccumulatorSegmentsAcrossBlocks(t *testing.T) {
	const total = 3*segBlockSize + 5
	a := NewAccumulator(0)
	var want [][]byte
	for i := range total {
		seg := fmt.Appendf(nil, "%d,", i)
		want = append(want, seg)
		a.Append(seg)
	}
	for _, n := range []int{0, 1, segBlockSize - 1, segBlockSize, segBlockSize + 1, total, total + 100} {
		got := slices.Collect(a.Segments(n))
		w := want[:min(n, total)]
		if len(got) != len(w) || !bytes.Equal(bytes.Join(got, nil), bytes.Join(w, nil)) {
			t.Errorf("Segments(%d) gave %d segments %q, want %d", n, len(got), bytes.Join(got, nil), len(w))
		}
		if got := a.AppendTo([]byte("pre:"), n); !bytes.Equal(got, append([]byte("pre:"), bytes.Join(w, nil)...)) {
			t.Errorf("AppendTo(pre, %d) = %q", n, got)
		}
	}
	// Stopping early must stop the iteration.
	var seen int
	for range a.Segments(total) {
		if seen++; seen == segBlockSize+2 {
			break
		}
	}
	if seen != segBlockSize+2 {
		t.Errorf("iterated %d segments", seen)
	}
}

func TestAccumulatorResetReusesBlocks(t *testing.T) {
	a := NewAccumulator(0)
	seg := []byte("0123456789")
	fill := func() {
		for range 4 * segBlockSize {
			a.Append(seg)
		}
	}
	fill()
	allocs := testing.AllocsPerRun(10, func() {
		a.Reset(1 << 20)
		fill()
	})
	if allocs != 0 {
		t.Errorf("refilling a reset accumulator allocated %v times", allocs)
	}
	a.Reset(5)
	if a.Len() != 0 || a.Count() != 0 || a.Limit() != 5 || len(a.Bytes()) != 0 {
		t.Errorf("after Reset: Len %d Count %d Limit %d", a.Len(), a.Count(), a.Limit())
	}
	if a.Append(seg) {
		t.Error("the new cap was not enforced")
	}
	for _, s := range a.head.segs {
		if s != nil {
			t.Fatal("Reset kept a reference to a segment")
		}
	}
}

// TestAccumulatorConcurrent checks that concurrent appends lose nothing and
// store every segment exactly once.
func TestAccumulatorConcurrent(t *testing.T) {
	const writers, each = 8, 1000
	a := NewAccumulator(0)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a.Append(fmt.Appendf(nil, "%d/%d", w, i))
			}
		})
	}
	wg.Wait()
	if a.Count() != writers*each {
		t.Fatalf("Count %d, want %d", a.Count(), writers*each)
	}
	seen := map[string]bool{}
	var size int64
	for seg := range a.Segments(a.Count()) {
		if seen[string(seg)] {
			t.Errorf("segment %q stored twice", seg)
		}
		seen[string(seg)] = true
		size += int64(len(seg))
	}
	if len(seen) != writers*each || size != a.Len() {
		t.Errorf("%d distinct segments of %d bytes; Len %d", len(seen), size, a.Len())
	}
}

// TestAccumulatorCapUnderContention hammers the cap from many goroutines:
// the total must never pass it and must equal the sum of the accepted
// segments. (The source's load-then-add fails this: two appends can both
// pass the check before either adds.)
func TestAccumulatorCapUnderContention(t *testing.T) {
	for _, limit := range []int64{1, 100, 10_000} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			const writers, each, maxSeg = 16, 2000, 64
			slab := bytes.Repeat([]byte{'x'}, maxSeg)
			a := NewAccumulator(limit)
			var wg sync.WaitGroup
			acceptedBytes := make([]int64, writers)
			acceptedCount := make([]int, writers)
			minRefused := make([]int64, writers) // smallest refused segment per writer
			for w := range writers {
				minRefused[w] = maxSeg + 1
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(limit), uint64(w)))
					for range each {
						n := 1 + rng.IntN(maxSeg)
						if !a.Append(slab[:n]) {
							minRefused[w] = min(minRefused[w], int64(n))
						} else {
							acceptedBytes[w] += int64(n)
							acceptedCount[w]++
						}
						if got := a.Len(); got > limit {
							t.Errorf("Len %d passed the cap %d while appending", got, limit)
							return
						}
					}
				})
			}
			wg.Wait()
			var sum int64
			var count int
			for w := range writers {
				sum += acceptedBytes[w]
				count += acceptedCount[w]
			}
			if a.Len() > limit || a.Len() != sum || a.Count() != count || int64(len(a.Bytes())) != sum {
				t.Errorf("Len %d, cap %d, accepted %d bytes in %d segments, Count %d, Bytes %d",
					a.Len(), limit, sum, count, a.Count(), len(a.Bytes()))
			}
			// Room only shrinks, so a refused segment never fits the room
			// left at the end either: a refusal of one that does means the
			// cap check refused what fitted. With hundreds of one-byte
			// attempts among 32000, the room left is less than the smallest
			// refusal and, at a cap of 1, none.
			refused := int64(maxSeg + 1)
			for _, m := range minRefused {
				refused = min(refused, m)
			}
			if room := limit - a.Len(); room >= refused {
				t.Errorf("a %d-byte segment was refused, yet %d bytes of the cap %d are still free", refused, room, limit)
			}
			if limit == 1 && a.Len() != 1 {
				t.Errorf("cap 1: Len %d, want the one byte that fits", a.Len())
			}
		})
	}
}

func BenchmarkAccumulatorAppend(b *testing.B) {
	seg := make([]byte, 64)
	a := NewAccumulator(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Reset every 1024 segments, as a pipeline reuses an accumulator
		// per request, so the benchmark does not just measure a huge list.
		if i++; i == 1024 {
			a.Reset(0)
			i = 0
		}
		a.Append(seg)
	}
}

// TestAccumulatorExactFit checks the cap's boundary: a segment that fills
// the cap exactly is accepted, one byte more is not, at every cap.
func TestAccumulatorExactFit(t *testing.T) {
	for _, limit := range []int64{1, 7, 64, 1000} {
		a := NewAccumulator(limit)
		if !a.Append(bytes.Repeat([]byte{'x'}, int(limit))) {
			t.Errorf("cap %d: a segment of exactly %d bytes was refused", limit, limit)
		}
		if a.Append([]byte{'y'}) {
			t.Errorf("cap %d: one byte over the cap was accepted (Len %d)", limit, a.Len())
		}
		b := NewAccumulator(limit)
		if b.Append(bytes.Repeat([]byte{'x'}, int(limit)+1)) {
			t.Errorf("cap %d: a segment one byte over the cap was accepted", limit)
		}
		if b.Len() != 0 || b.Count() != 0 {
			t.Errorf("cap %d: a refused append left Len %d, Count %d", limit, b.Len(), b.Count())
		}
	}
}
