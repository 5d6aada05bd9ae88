package gate

import (
	"math"
	"testing"
)

func TestSignedRankCDF(t *testing.T) {
	// n=3: the 8 subsets of {1,2,3} have sums 0,1,2,3,3,4,5,6.
	want := []float64{1, 2, 3, 5, 6, 7, 8}
	for i, p := range signedRankCDF(3) {
		if math.Abs(p-want[i]/8) > 1e-12 {
			t.Fatalf("P(T <= %d) = %g, want %g", i, p, want[i]/8)
		}
	}
	// n=10: the two-sided 5% critical value of the tables is 8,
	// P(T <= 8) = 25/1024.
	if p := signedRankCDF(10)[8]; math.Abs(p-25.0/1024) > 1e-12 {
		t.Fatalf("n=10: P(T <= 8) = %g, want %g", p, 25.0/1024)
	}
}

func TestSignedRank(t *testing.T) {
	t.Run("too few", func(t *testing.T) {
		iv := SignedRank([]float64{1, 2, 3, 4, 5}, 0.95)
		if iv.Valid() || iv.Est != 3 {
			t.Fatalf("5 differences: %+v, want an estimate of 3 and no interval", iv)
		}
	})
	t.Run("six is the minimum", func(t *testing.T) {
		iv := SignedRank([]float64{1, 2, 3, 4, 5, 6}, 0.95)
		if !iv.Valid() || iv.Lo != 1 || iv.Hi != 6 || math.Abs(iv.Confidence-(1-2.0/64)) > 1e-12 {
			t.Fatalf("6 differences: %+v, want [1, 6] at 96.9%%", iv)
		}
	})
	t.Run("constant", func(t *testing.T) {
		iv := SignedRank([]float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, 0.95)
		if iv.Lo != 0.1 || iv.Hi != 0.1 || iv.Est != 0.1 {
			t.Fatalf("constant differences: %+v, want a point interval at 0.1", iv)
		}
	})
	t.Run("n=10", func(t *testing.T) {
		d := []float64{-3, -1, 0, 2, 4, 5, 7, 8, 11, 20}
		iv := SignedRank(d, 0.95)
		// c = 9: the 9th smallest and the 9th largest of the 55 Walsh
		// averages.
		if iv.Lo != 0.5 || iv.Hi != 10 || math.Abs(iv.Confidence-(1-50.0/1024)) > 1e-12 {
			t.Fatalf("%+v, want [0.5, 10] at %g", iv, 1-50.0/1024)
		}
		if iv.Est != 4.5 {
			t.Fatalf("estimate %g, want 4.5", iv.Est)
		}
	})
}
