package scenarios

import (
	"sync"
	"time"

	"github.com/streambench/streambench/impls"
)

// Plan is everything drawn for one request: what the provider will stream,
// when, and how the client will read it. It is a pure function of the
// scenario seed and the request index (see Scenario.Request); its methods are
// pure too, so the provider and client sides may call them concurrently and
// in any order.
type Plan struct {
	// Index is the request index the plan was drawn for.
	Index uint64
	// TTFT is the provider's delay before chunk 0, scaled.
	TTFT time.Duration
	// Chunks is the number of chunks of the full response.
	Chunks int
	// Tokens and Bytes are the completion tokens and content bytes of the
	// full response.
	Tokens int64
	Bytes  int64
	// FailAtChunk is the chunk at which the provider fails: after that
	// chunk's gap it returns an error instead of the chunk. -1 for none.
	FailAtChunk int
	// StallAtChunk is the chunk before which the provider stalls for
	// StallFor (scaled, included in that chunk's Gap). -1 for none.
	StallAtChunk int
	StallFor     time.Duration
	// DisconnectAfterChunks is the number of chunks the client reads before
	// it disconnects; -1 for none (including draws of Chunks or more).
	DisconnectAfterChunks int
	// DisconnectAfter is how long after its start the client disconnects,
	// scaled; 0 for none (a drawn zero is raised to 1 ns).
	DisconnectAfter time.Duration
	// Usage is what the last chunk reports: CompletionTokens = Tokens.
	Usage impls.Usage
	// FinishReason is what the last chunk carries.
	FinishReason string

	s          *Scenario
	lastTokens int64 // The last chunk holds what the others left.
	slowReader bool  // the client has a read delay to draw
	// chunkSite and readSite are the draw sites of Chunk and ReadDelay for
	// this request.
	chunkSite, readSite site
	text                []byte // the slab, looked up once per request
}

// Chunk is one chunk of a plan, as the provider will send it.
type Chunk struct {
	// Seq is the chunk's index in the response, from 0.
	Seq int
	// Content is a window into a text slab shared by every chunk of every
	// plan: it must never be modified. Its capacity ends at its length, so
	// an append copies rather than writing into the slab.
	Content []byte
	// Tokens is the number of completion tokens Content holds.
	Tokens int64
	// Gap is the provider's delay before sending the chunk, scaled: the
	// TTFT for chunk 0, an inter-chunk delay otherwise, plus StallFor at
	// StallAtChunk.
	Gap time.Duration
	// Last is true for the final chunk, which carries the plan's
	// FinishReason and Usage.
	Last bool
}

// Request draws the plan of request i. It allocates nothing beyond the
// returned Plan and takes time proportional to the number of chunks.
func (s *Scenario) Request(i uint64) Plan {
	p := &s.Provider
	plan := Plan{
		Index:                 i,
		FailAtChunk:           -1,
		StallAtChunk:          -1,
		DisconnectAfterChunks: -1,
		FinishReason:          p.FinishReason,
		s:                     s,
		slowReader:            !s.Client.ReadDelay.IsZero(),
		chunkSite:             site{hi: mix(s.Seed ^ saltChunk), a: mix(i), salt: saltChunk},
		readSite:              site{hi: mix(s.Seed ^ saltRead), a: mix(i), salt: saltRead},
		text:                  slab(),
	}

	r := newRNG(s.Seed, saltLength, i, 0)
	total := min(max(p.ResponseTokens.sample(&r), 1), MaxResponseTokens)
	prompt := p.PromptTokens.sample(&r)
	plan.TTFT = s.Scaled(p.TTFT.sample(&r))

	// Split the response into chunks with the same per-chunk draws that
	// Chunk makes, so both agree on every chunk but the last.
	// Note: constant chunk sizes draw nothing, so the split has a closed
	// form: full chunks of the constant size, then what is left (a long
	// response would otherwise loop over every chunk here, on every
	// request).
	if p.TokensPerChunk.Kind == Const && p.BytesPerToken.Kind == Const {
		var none rng
		t := max(p.TokensPerChunk.sample(&none), 1)
		bpt := p.BytesPerToken.sample(&none)
		full := (total - 1) / t
		plan.lastTokens = total - full*t
		plan.Chunks = int(full) + 1
		plan.Bytes = full*chunkBytes(t, bpt) + chunkBytes(plan.lastTokens, bpt)
	} else {
		var sum int64
		for k := 0; sum < total; k++ {
			c := plan.chunkSite.rng(uint64(k))
			t := max(p.TokensPerChunk.sample(&c), 1)
			if sum+t >= total {
				t = total - sum
				plan.lastTokens = t
			}
			sum += t
			plan.Bytes += chunkBytes(t, p.BytesPerToken.sample(&c))
			plan.Chunks++
		}
	}
	plan.Tokens = total
	plan.Usage = impls.Usage{PromptTokens: prompt, CompletionTokens: total, TotalTokens: prompt + total}

	// A failure or stall lands mid-stream: after at least one chunk when
	// there is more than one.
	n := plan.Chunks
	if r, ok := s.event(saltFail, i, p.FailProbability); ok {
		plan.FailAtChunk = r.intn(min(1, n-1), n-1)
	}
	if r, ok := s.event(saltStall, i, p.StallProbability); ok {
		plan.StallAtChunk = r.intn(min(1, n-1), n-1)
		plan.StallFor = s.Scaled(p.Stall.sample(&r))
	}
	c := &s.Client
	if r, ok := s.event(saltDisconnect, i, c.DisconnectProbability); ok {
		switch {
		case c.DisconnectAfterChunks != nil:
			if k := c.DisconnectAfterChunks.sample(&r); k < int64(n) {
				plan.DisconnectAfterChunks = int(k)
			}
		case c.DisconnectAfter != nil:
			plan.DisconnectAfter = max(s.Scaled(c.DisconnectAfter.sample(&r)), 1)
		}
	}
	return plan
}

// event draws whether request i's event of probability p happens, from draw
// site salt, and returns the stream its details are drawn from next. An
// event of probability zero never happens (chance draws a value below p), so
// its stream is not even seeded: most scenarios have no failures, stalls or
// disconnects, and Request runs once per request.
func (s *Scenario) event(salt, i uint64, p float64) (rng, bool) {
	if p <= 0 {
		return rng{}, false
	}
	r := newRNG(s.Seed, salt, i, 0)
	return r, r.chance(p)
}

// Chunk returns chunk k of the plan, 0 <= k < p.Chunks. It does not allocate.
func (p *Plan) Chunk(k int) Chunk {
	content, tokens, gap, last := p.ChunkFields(k)
	return Chunk{Seq: k, Content: content, Tokens: tokens, Gap: gap, Last: last}
}

// ChunkFields is Chunk(k) taken apart, for a caller on the hot path: a
// Chunk has too many fields for the compiler to keep in registers, and a
// caller that holds one across a call copies it through memory with wide
// loads of narrow stores, a store-forwarding stall on every chunk.
func (p *Plan) ChunkFields(k int) (content []byte, tokens int64, gap time.Duration, last bool) {
	pr := &p.s.Provider
	r := p.chunkSite.rng(uint64(k))
	// Note: the draw order (tokens, bytes per token, offset, gap) is part of
	// the format's determinism: Request repeats the first two.
	tokens = max(pr.TokensPerChunk.sample(&r), 1)
	last = k == p.Chunks-1
	if last {
		tokens = p.lastTokens
	}
	size := chunkBytes(tokens, pr.BytesPerToken.sample(&r))
	text := p.text
	off := r.uint64n(uint64(len(text)) - uint64(size) + 1)
	content = text[off : off+uint64(size) : off+uint64(size)]
	if k == 0 {
		gap = p.TTFT
	} else {
		gap = p.s.Scaled(pr.InterChunk.sample(&r))
	}
	if k == p.StallAtChunk {
		gap += p.StallFor
	}
	return content, tokens, gap, last
}

// ReadDelay returns how long the client takes to read chunk k, scaled. It
// does not allocate.
func (p *Plan) ReadDelay(k int) time.Duration {
	if !p.slowReader {
		return 0
	}
	return p.readDelay(k)
}

// readDelay draws ReadDelay, apart so that a fast reader's check inlines.
func (p *Plan) readDelay(k int) time.Duration {
	d := &p.s.Client.ReadDelay
	r := p.readSite.rng(uint64(k))
	return p.s.Scaled(d.sample(&r))
}

// chunkBytes is the content size of a chunk of the given tokens.
func chunkBytes(tokens, bytesPerToken int64) int64 {
	// Note: tokens*bpt > MaxChunkBytes is tokens > MaxChunkBytes/bpt
	// without a division (a tenth of the cost of drawing a chunk); the
	// first test keeps the product from overflowing.
	bpt := max(bytesPerToken, 1)
	if tokens < 1 {
		return 1
	}
	if tokens > MaxChunkBytes || bpt > MaxChunkBytes || tokens*bpt > MaxChunkBytes {
		return MaxChunkBytes
	}
	return max(tokens*bpt, 1)
}

// slabSize is the size of the shared text every chunk's content is cut from.
const slabSize = 1 << 20

// slab returns the shared text: deterministic lowercase pseudo-words and
// punctuation, built once on first use.
var slab = sync.OnceValue(func() []byte {
	const letters = "etaoinshrdlucmfwypvbgkjqxz"
	r := newRNG(0x736c6162, 0, 0, 0)
	b := make([]byte, 0, slabSize+16)
	for len(b) < slabSize {
		n := 1 + r.intn(0, 7)
		for range n {
			// Squaring a uniform index favours the frequent letters.
			f := r.float64()
			b = append(b, letters[int(f*f*float64(len(letters)))])
		}
		switch r.intn(0, 15) {
		case 0:
			b = append(b, ',')
		case 1:
			b = append(b, '.')
		}
		b = append(b, ' ')
	}
	return b[:slabSize:slabSize]
})
