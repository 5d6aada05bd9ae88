package gate

import (
	"math"
	"slices"
)

// Interval is a Hodges–Lehmann estimate of the centre of paired
// differences with its Wilcoxon signed-rank confidence interval, in the
// units of the differences (here natural-log ratios).
type Interval struct {
	// N is the number of differences.
	N int
	// Est is the Hodges–Lehmann estimate: the median of the Walsh averages.
	Est float64
	// Lo and Hi bound the interval; both are NaN when N is too small for
	// the confidence asked (fewer than 6 differences for 95%).
	Lo, Hi float64
	// Confidence is the interval's exact confidence (at least the one
	// asked for; the signed-rank distribution is discrete).
	Confidence float64
}

// Valid reports whether the interval exists.
func (iv Interval) Valid() bool { return !math.IsNaN(iv.Lo) && !math.IsNaN(iv.Hi) }

// HalfWidth is half the interval's width, NaN when it has none.
func (iv Interval) HalfWidth() float64 { return (iv.Hi - iv.Lo) / 2 }

// SignedRank returns the Hodges–Lehmann estimate of the centre of d and its
// exact Wilcoxon signed-rank confidence interval at confidence (0.95 for
// 95%).
//
// Note: the interval is [W(c), W(M+1-c)] over the M = n(n+1)/2 sorted Walsh
// averages (d_i+d_j)/2, i <= j, where c is the largest count with
// P(T <= c-1) <= (1-confidence)/2 under the null distribution of the
// signed-rank statistic T, computed exactly for every n. It is distribution
// free (it assumes only that the differences are symmetric about their
// centre) and deterministic: the same pairs always give the same verdict,
// which a bootstrap's resampling does not.
func SignedRank(d []float64, confidence float64) Interval {
	n := len(d)
	iv := Interval{N: n, Est: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if n == 0 {
		return iv
	}
	walsh := make([]float64, 0, n*(n+1)/2)
	for i := range d {
		for j := i; j < n; j++ {
			walsh = append(walsh, (d[i]+d[j])/2)
		}
	}
	slices.Sort(walsh)
	m := len(walsh)
	if m%2 == 1 {
		iv.Est = walsh[m/2]
	} else {
		iv.Est = (walsh[m/2-1] + walsh[m/2]) / 2
	}
	cdf := signedRankCDF(n)
	alpha := (1 - confidence) / 2
	c := 0
	for c < len(cdf) && cdf[c] <= alpha {
		c++
	}
	// Now P(T <= c-1) <= alpha < P(T <= c); c = 0 means no interval.
	if c == 0 || c > m/2 {
		return iv
	}
	iv.Lo, iv.Hi = walsh[c-1], walsh[m-c]
	iv.Confidence = 1 - 2*cdf[c-1]
	return iv
}

// signedRankCDF returns P(T <= t) for t = 0 … n(n+1)/2, where T is the sum
// of the ranks 1…n each included with probability 1/2.
func signedRankCDF(n int) []float64 {
	top := n * (n + 1) / 2
	p := make([]float64, top+1)
	p[0] = 1
	for k := 1; k <= n; k++ {
		// Each rank k is in the sum or not, with probability 1/2 each.
		for t := k * (k + 1) / 2; t >= k; t-- {
			p[t] = (p[t] + p[t-k]) / 2
		}
		for t := k - 1; t >= 0; t-- {
			p[t] /= 2
		}
	}
	for t := 1; t <= top; t++ {
		p[t] += p[t-1]
	}
	return p
}
