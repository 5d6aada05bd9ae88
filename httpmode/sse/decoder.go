// Package sse reads and writes server-sent events, and the OpenAI
// chat-completions streaming format carried over them.
//
// The Decoder is an incremental, bounded parser of the WHATWG "text/event-stream"
// format; the Append helpers write OpenAI "chat.completion.chunk" events into a
// caller-owned []byte without reflection; ParseChunk reads one such chunk back.
// The HTTP mode of the harness (package httpmode) sits above it: its synthetic
// provider writes with the Append helpers, and its gateway reads the provider's
// stream with a Decoder and re-encodes it for the client.
package sse

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// DefaultMaxEvent is the event size bound a Decoder uses when given a
// non-positive one.
const DefaultMaxEvent = 1 << 20

// ErrEventTooLarge is returned by Decoder.Next for a line, or the data of one
// event, longer than the Decoder's bound. The decoder stops there: the rest of
// the stream cannot be framed reliably.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched server-sent event.
type Event struct {
	// ID is the last event ID in effect when the event was dispatched (it
	// persists across events, as the specification requires).
	ID string
	// Event is the event type; empty means the default, "message".
	Event string
	// Data is the event's data lines joined with "\n", without a trailing
	// newline.
	Data []byte
	// Retry is the reconnection time last set by a valid "retry" field, zero
	// if none was.
	Retry time.Duration
}

// A Decoder reads events from a text/event-stream.
//
// Note: the Decoder keeps its own read buffer (it does not use bufio) so that
// it can bound both the line length and the data of one event, and so that a
// CR at the end of one read followed by an LF at the start of the next counts
// as one line ending. In steady state it allocates nothing per event: Data
// aliases an internal buffer and the ID and Event strings are reused while
// they do not change.
type Decoder struct {
	r   io.Reader
	max int

	buf        []byte // buf[start:end] is read but not yet consumed
	start, end int
	scanned    int   // buf[start:scanned] is known to hold no line ending
	rerr       error // error from r, returned once buf is drained
	skipLF     bool  // the last line ended in CR: drop one LF that follows
	first      bool  // no line has been read yet (a leading BOM is dropped)

	data    []byte // the data buffer, each line followed by '\n'
	typ     string // the event type buffer
	typSeen string // last non-empty event type, reused to avoid allocating
	lastID  string
	retry   time.Duration
	err     error // sticky error
}

// NewDecoder returns a Decoder reading from r that refuses any line, or the
// data of any event, longer than maxEvent bytes with ErrEventTooLarge. A
// non-positive maxEvent means DefaultMaxEvent.
func NewDecoder(r io.Reader, maxEvent int) *Decoder {
	d := &Decoder{}
	d.max = maxEvent
	if d.max <= 0 {
		d.max = DefaultMaxEvent
	}
	d.Reset(r)
	return d
}

// Reset discards the Decoder's state and makes it read from r, keeping its
// buffers and its size bound.
func (d *Decoder) Reset(r io.Reader) {
	*d = Decoder{r: r, max: d.max, buf: d.buf, data: d.data[:0], first: true}
}

// Next returns the next dispatched event. Event.Data aliases the Decoder's
// buffer and is valid only until the next call to Next or Reset; copy it to
// keep it.
//
// At the end of the stream Next returns io.EOF if the stream ended cleanly,
// and io.ErrUnexpectedEOF if it ended inside an event (data not yet
// dispatched by a blank line, or an unterminated line): such an event is never
// delivered. Any other error from the reader is returned as is. Errors are
// sticky.
func (d *Decoder) Next() (Event, error) {
	if d.err != nil {
		return Event{}, d.err
	}
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && (len(d.data) > 0 || d.end > d.start) {
				err = io.ErrUnexpectedEOF
			}
			d.err = err
			return Event{}, err
		}
		if d.first {
			d.first = false
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(line) == 0 {
			if len(d.data) == 0 {
				// Note: the specification resets the event type and does
				// not dispatch when no data line was seen.
				d.typ = ""
				continue
			}
			ev := Event{ID: d.lastID, Event: d.typ, Data: d.data[:len(d.data)-1], Retry: d.retry}
			d.data = d.data[:0]
			d.typ = ""
			return ev, nil
		}
		if err := d.field(line); err != nil {
			d.err = err
			return Event{}, err
		}
	}
}

// field processes one non-empty line.
func (d *Decoder) field(line []byte) error {
	if line[0] == ':' {
		return nil // a comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(d.data)+len(value)+1 > d.max+1 {
			return ErrEventTooLarge
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
	case "event":
		if string(value) != d.typSeen {
			d.typSeen = string(value)
		}
		d.typ = d.typSeen
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != d.lastID {
			d.lastID = string(value)
		}
	case "retry":
		if len(value) > 0 && allDigits(value) {
			ms, err := strconv.ParseInt(string(value), 10, 64)
			if err == nil && ms <= int64(1<<63-1)/int64(time.Millisecond) {
				d.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// maxEmptyReads is how many successive (0, nil) reads the Decoder tolerates
// before it reports io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// readLine returns the next line without its terminator. The line aliases
// d.buf and is valid until the next call.
func (d *Decoder) readLine() ([]byte, error) {
	empty := 0
	for {
		if d.skipLF && d.start < d.end {
			d.skipLF = false
			if d.buf[d.start] == '\n' {
				d.start++
			}
		}
		if d.scanned < d.start {
			d.scanned = d.start
		}
		if i := indexEOL(d.buf[d.scanned:d.end]); i >= 0 {
			eol := d.scanned + i
			line := d.buf[d.start:eol]
			d.skipLF = d.buf[eol] == '\r'
			d.start = eol + 1
			d.scanned = d.start
			return line, nil
		}
		d.scanned = d.end
		if d.end-d.start > d.max {
			return nil, ErrEventTooLarge
		}
		if d.rerr != nil {
			return nil, d.rerr
		}
		d.fill()
		n, err := d.r.Read(d.buf[d.end:])
		if n < 0 || n > len(d.buf)-d.end {
			return nil, errors.New("sse: reader returned an invalid count")
		}
		d.end += n
		d.rerr = err
		if n == 0 && err == nil {
			if empty++; empty >= maxEmptyReads {
				return nil, io.ErrNoProgress
			}
		}
	}
}

// fill makes room after d.end for a read: it moves the unconsumed bytes to
// the front when that frees enough space, and grows the buffer, up to the
// longest line allowed plus its terminator, when it does not.
func (d *Decoder) fill() {
	const minRead = 512
	limit := d.max + 1
	if len(d.buf)-d.end >= minRead || len(d.buf) == limit && d.end < len(d.buf) {
		return
	}
	if d.start > 0 && (len(d.buf)-(d.end-d.start) >= minRead || len(d.buf) == limit) {
		n := copy(d.buf, d.buf[d.start:d.end])
		d.scanned -= d.start
		d.start, d.end = 0, n
		return
	}
	size := 2 * len(d.buf)
	if size < 4096 {
		size = 4096
	}
	if size > limit {
		size = limit
	}
	nb := make([]byte, size)
	n := copy(nb, d.buf[d.start:d.end])
	d.scanned -= d.start
	d.buf, d.start, d.end = nb, 0, n
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
