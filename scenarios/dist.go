package scenarios

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"
)

// Kind names the family of a distribution.
type Kind uint8

// The distribution families. The zero Kind is Const, so the zero Dist is the
// constant zero: "no delay", "no tokens".
const (
	// Const always yields Value.
	Const Kind = iota
	// Uniform yields a value in [Min, Max], both inclusive.
	Uniform
	// Normal yields Mean + Stddev·N(0,1), clamped to [Min, Max].
	Normal
	// LogNormal yields Median·exp(Sigma·N(0,1)), clamped to [Min, Max].
	LogNormal
	// Exp yields an exponential variate of mean Mean, clamped to [Min, Max].
	Exp
)

var kindNames = [...]string{Const: "const", Uniform: "uniform", Normal: "normal", LogNormal: "lognormal", Exp: "exp"}

// String returns the family's name as written in a scenario file.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Dist is a distribution of non-negative values: durations (DurationDist) or
// integer counts (IntDist). It is plain data; which fields matter depends on
// Kind, the others must be zero-valued or are ignored.
//
// Samples are never negative. For Normal, LogNormal and Exp, Min and Max clamp
// the sample (Max zero means no upper clamp), which is how an unbounded family
// is given a finite maximum.
type Dist[T ~int64] struct {
	Kind Kind
	// Value is the Const value.
	Value T
	// Min and Max are Uniform's inclusive bounds, and the optional clamps of
	// the other families.
	Min, Max T
	// Mean parametrises Normal and Exp; Stddev parametrises Normal.
	Mean, Stddev T
	// Median and Sigma parametrise LogNormal: ln(sample) ~ N(ln Median, Sigma).
	Median T
	Sigma  float64
}

// DurationDist is a distribution of durations, written in a file as Go
// duration strings ("20ms").
type DurationDist = Dist[time.Duration]

// IntDist is a distribution of integer counts (tokens, bytes, chunks).
type IntDist = Dist[int64]

// ConstOf returns the distribution that always yields v.
func ConstOf[T ~int64](v T) Dist[T] { return Dist[T]{Kind: Const, Value: v} }

// UniformOf returns the uniform distribution on [lo, hi].
func UniformOf[T ~int64](lo, hi T) Dist[T] { return Dist[T]{Kind: Uniform, Min: lo, Max: hi} }

// NormalOf returns the normal distribution of the given mean and standard
// deviation, clamped at zero.
func NormalOf[T ~int64](mean, stddev T) Dist[T] {
	return Dist[T]{Kind: Normal, Mean: mean, Stddev: stddev}
}

// LogNormalOf returns the log-normal distribution of the given median and
// shape sigma.
func LogNormalOf[T ~int64](median T, sigma float64) Dist[T] {
	return Dist[T]{Kind: LogNormal, Median: median, Sigma: sigma}
}

// ExpOf returns the exponential distribution of the given mean.
func ExpOf[T ~int64](mean T) Dist[T] { return Dist[T]{Kind: Exp, Mean: mean} }

// IsZero reports whether d is the zero Dist (the constant zero).
func (d Dist[T]) IsZero() bool { return d == Dist[T]{} }

// Bound returns the largest value d can yield, and false if d is unbounded.
func (d Dist[T]) Bound() (T, bool) {
	switch d.Kind {
	case Const:
		return d.Value, true
	case Uniform:
		return d.Max, true
	default:
		if d.Max > 0 {
			return d.Max, true
		}
		if d.Kind == Normal && d.Stddev == 0 {
			return max(d.Mean, d.Min), true
		}
		if d.Kind == LogNormal && d.Sigma == 0 {
			return max(d.Median, d.Min), true
		}
		return 0, false
	}
}

// String formats d as it would be written in a scenario file.
func (d Dist[T]) String() string {
	clamp := ""
	if d.Min != 0 {
		clamp += ", min: " + formatValue(d.Min)
	}
	if d.Max != 0 {
		clamp += ", max: " + formatValue(d.Max)
	}
	switch d.Kind {
	case Const:
		return "{const: " + formatValue(d.Value) + "}"
	case Uniform:
		return "{uniform: [" + formatValue(d.Min) + ", " + formatValue(d.Max) + "]}"
	case Normal:
		return "{normal: {mean: " + formatValue(d.Mean) + ", stddev: " + formatValue(d.Stddev) + clamp + "}}"
	case LogNormal:
		return "{lognormal: {median: " + formatValue(d.Median) + ", sigma: " +
			strconv.FormatFloat(d.Sigma, 'g', -1, 64) + clamp + "}}"
	case Exp:
		return "{exp: {mean: " + formatValue(d.Mean) + clamp + "}}"
	}
	return fmt.Sprintf("{%v}", d.Kind)
}

func formatValue[T ~int64](v T) string {
	if d, ok := any(v).(time.Duration); ok {
		return d.String()
	}
	return strconv.FormatInt(int64(v), 10)
}

// sample draws one value of d from r. It never returns a negative value.
//
// Note: the constant case is kept apart so that it inlines: most per-chunk
// draws of a scenario are constants, and a draw runs for every chunk.
func (d *Dist[T]) sample(r *rng) T {
	if d.Kind == Const {
		return max(d.Value, 0)
	}
	return d.draw(r)
}

// draw samples the families other than Const.
func (d *Dist[T]) draw(r *rng) T {
	var f float64
	switch d.Kind {
	case Uniform:
		lo, hi := max(d.Min, 0), max(d.Max, 0)
		if hi <= lo {
			return lo
		}
		return lo + T(r.uint64n(uint64(hi-lo)+1))
	case Normal:
		f = float64(d.Mean) + float64(d.Stddev)*r.norm()
	case LogNormal:
		f = float64(d.Median) * math.Exp(d.Sigma*r.norm())
	case Exp:
		f = float64(d.Mean) * r.exp()
	default:
		return 0
	}
	v := toInt[T](f)
	v = max(v, d.Min, 0)
	if d.Max > 0 {
		v = min(v, d.Max)
	}
	return v
}

// toInt rounds f to T, saturating instead of overflowing.
func toInt[T ~int64](f float64) T {
	switch {
	case !(f > 0): // Also NaN.
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return T(math.Round(f))
}

// rng is the package's only source of randomness: a PCG stream seeded from
// the scenario seed and the indices that identify one draw site.
//
// Note: the samplers are methods on this concrete type rather than on a
// *rand.Rand, because rand.New(&pcg) moves the PCG to the heap; a stack rng
// is what lets Plan.Chunk draw without allocating.
type rng struct{ pcg rand.PCG }

// Salts separate the independent streams drawn from one seed, so that, for
// example, changing a failure probability does not move disconnect points.
const (
	saltLength     = 0x6c656e677468
	saltFail       = 0x6661696c
	saltStall      = 0x7374616c6c
	saltDisconnect = 0x646973636f6e
	saltChunk      = 0x6368756e6b
	saltRead       = 0x72656164
	saltArrival    = 0x617272697665

	saltLedgerPersist = 0x6c70657273697374
	saltLedgerCharge  = 0x6c6368617267
)

// newRNG returns the stream for draw site (salt, a, b) of a scenario seed.
func newRNG(seed, salt, a, b uint64) rng {
	return site{hi: mix(seed ^ salt), a: mix(a), salt: salt}.rng(b)
}

// site is the part of a draw site's seed that does not change along a
// request's chunks: newRNG(seed, salt, a, b) == site{mix(seed^salt),
// mix(a), salt}.rng(b) for every b.
//
// Note: a plan keeps its chunk and read sites, so that drawing chunk k
// mixes once instead of three times (the per-chunk draws are the
// harness's own cost, paid on every chunk of every variant).
type site struct{ hi, a, salt uint64 }

// rng returns the site's stream for index b.
func (s site) rng(b uint64) rng {
	var r rng
	r.pcg.Seed(s.hi, mix(s.a^(b*0x9e3779b97f4a7c15+s.salt)))
	return r
}

// mix is the SplitMix64 finalizer: a bijection that spreads nearby inputs
// (request 7 and request 8) into unrelated seeds.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// float64 returns a uniform value in [0, 1).
func (r *rng) float64() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// uint64n returns a uniform value in [0, n) without modulo bias (Lemire).
func (r *rng) uint64n(n uint64) uint64 {
	if n == 0 {
		return r.pcg.Uint64()
	}
	hi, lo := bits.Mul64(r.pcg.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.pcg.Uint64(), n)
		}
	}
	return hi
}

// intn returns a uniform value in [lo, hi].
func (r *rng) intn(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + int(r.uint64n(uint64(hi-lo)+1))
}

// norm returns a standard normal variate (Marsaglia's polar method).
func (r *rng) norm() float64 {
	for {
		u := 2*r.float64() - 1
		v := 2*r.float64() - 1
		s := u*u + v*v
		if s > 0 && s < 1 {
			return u * math.Sqrt(-2*math.Log(s)/s)
		}
	}
}

// exp returns an exponential variate of mean 1.
func (r *rng) exp() float64 { return -math.Log1p(-r.float64()) }

// chance reports whether an event of probability p happens.
func (r *rng) chance(p float64) bool { return r.float64() < p }
