package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// piecesReader returns its pieces one Read at a time (a piece larger than
// the caller's buffer is returned over several reads), optionally with
// io.EOF on the same call as the last bytes.
type piecesReader struct {
	pieces   [][]byte
	eofEarly bool
}

func (r *piecesReader) Read(p []byte) (int, error) {
	for len(r.pieces) > 0 && len(r.pieces[0]) == 0 {
		r.pieces = r.pieces[1:]
	}
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	r.pieces[0] = r.pieces[0][n:]
	if len(r.pieces[0]) == 0 {
		r.pieces = r.pieces[1:]
	}
	if r.eofEarly && len(r.pieces) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func newPieces(eofEarly bool, pieces ...string) *piecesReader {
	r := &piecesReader{eofEarly: eofEarly}
	for _, p := range pieces {
		r.pieces = append(r.pieces, []byte(p))
	}
	return r
}

// decodeAll returns every event (with Data copied) and the final error.
func decodeAll(r io.Reader, max int) ([]Event, error) {
	d := NewDecoder(r, max)
	var evs []Event
	for {
		ev, err := d.Next()
		if err != nil {
			return evs, err
		}
		ev.Data = bytes.Clone(ev.Data)
		evs = append(evs, ev)
	}
}

func TestDecoder(t *testing.T) {
	ev := func(data string) Event { return Event{Data: []byte(data)} }
	tests := []struct {
		name    string
		pieces  []string
		max     int
		want    []Event
		wantErr error
	}{
		{name: "empty", pieces: nil, wantErr: io.EOF},
		{name: "one event LF", pieces: []string{"data: a\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "one event CRLF", pieces: []string{"data: a\r\n\r\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "one event CR", pieces: []string{"data: a\r\r"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "mixed endings", pieces: []string{"data: a\rdata: b\ndata: c\r\n\n"}, want: []Event{ev("a\nb\nc")}, wantErr: io.EOF},
		{
			name:   "CR at end of read, LF at start of next",
			pieces: []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"},
			want:   []Event{ev("a\nb")}, wantErr: io.EOF,
		},
		{
			name:   "CR then CR across reads is two line endings",
			pieces: []string{"data: a\r", "\rdata: b\n\n"},
			want:   []Event{ev("a"), ev("b")}, wantErr: io.EOF,
		},
		{name: "byte at a time", pieces: strings.Split("data: x\r\ndata: y\r\n\r\n", ""), want: []Event{ev("x\ny")}, wantErr: io.EOF},
		{name: "no space after colon", pieces: []string{"data:a\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "only one space stripped", pieces: []string{"data:  a \n\n"}, want: []Event{ev(" a ")}, wantErr: io.EOF},
		{name: "field without colon", pieces: []string{"data\n\n"}, want: []Event{ev("")}, wantErr: io.EOF},
		{name: "empty data lines", pieces: []string{"data:\ndata:\n\n"}, want: []Event{ev("\n")}, wantErr: io.EOF},
		{name: "comments ignored", pieces: []string{": hi\ndata: a\n:\n\n: bye\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "comment alone dispatches nothing", pieces: []string{": ping\n\n"}, wantErr: io.EOF},
		{name: "unknown field ignored", pieces: []string{"foo: bar\ndata: a\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "event without data is not dispatched", pieces: []string{"event: x\n\ndata: a\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{
			name:   "event type and persistent id",
			pieces: []string{"event: t\nid: 7\ndata: a\n\ndata: b\n\n"},
			want:   []Event{{ID: "7", Event: "t", Data: []byte("a")}, {ID: "7", Data: []byte("b")}}, wantErr: io.EOF,
		},
		{name: "id with NUL ignored", pieces: []string{"id: 1\n\nid: a\x00b\ndata: a\n\n"}, want: []Event{{ID: "1", Data: []byte("a")}}, wantErr: io.EOF},
		{name: "empty id resets", pieces: []string{"id: 1\ndata: a\n\nid\ndata: b\n\n"}, want: []Event{{ID: "1", Data: []byte("a")}, ev("b")}, wantErr: io.EOF},
		{
			name:   "retry",
			pieces: []string{"retry: 1500\ndata: a\n\nretry: 1x\ndata: b\n\n"},
			want:   []Event{{Retry: 1500 * time.Millisecond, Data: []byte("a")}, {Retry: 1500 * time.Millisecond, Data: []byte("b")}}, wantErr: io.EOF,
		},
		{name: "BOM at start dropped", pieces: []string{"\xef\xbb", "\xbfdata: a\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "BOM later is data", pieces: []string{"data: a\n\n\xef\xbb\xbfdata: b\n\n"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "unterminated event at EOF", pieces: []string{"data: a\n"}, wantErr: io.ErrUnexpectedEOF},
		{name: "unterminated line at EOF", pieces: []string{"data: a\n\ndata: b"}, want: []Event{ev("a")}, wantErr: io.ErrUnexpectedEOF},
		{name: "single CR terminated event at EOF", pieces: []string{"data: a\r"}, wantErr: io.ErrUnexpectedEOF},
		{name: "trailing CR after event is clean", pieces: []string{"data: a\n\r"}, want: []Event{ev("a")}, wantErr: io.EOF},
		{name: "line at the bound", pieces: []string{"data: 12345\n\n"}, max: 11, want: []Event{ev("12345")}, wantErr: io.EOF},
		{name: "line over the bound", pieces: []string{"data: 123456\n\n"}, max: 11, wantErr: ErrEventTooLarge},
		{name: "endless line", pieces: []string{strings.Repeat("x", 100)}, max: 16, wantErr: ErrEventTooLarge},
		{name: "data at the bound", pieces: []string{"data: 1234\ndata: 12345\n\n"}, max: 11, want: []Event{ev("1234\n12345")}, wantErr: io.EOF},
		{name: "data over the bound", pieces: []string{"data: 1234\ndata: 1234\ndata: 1234\n\n"}, max: 11, wantErr: ErrEventTooLarge},
		{name: "events before an oversized one", pieces: []string{"data: a\n\ndata: " + strings.Repeat("y", 64) + "\n\n"}, max: 32, want: []Event{ev("a")}, wantErr: ErrEventTooLarge},
		{name: "long line spanning reads", pieces: []string{"data: " + strings.Repeat("z", 5000), strings.Repeat("z", 5000) + "\n\n"}, want: []Event{ev(strings.Repeat("z", 10000))}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		for _, eofEarly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/eofEarly=%v", tt.name, eofEarly), func(t *testing.T) {
				got, err := decodeAll(newPieces(eofEarly, tt.pieces...), tt.max)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("final error = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestDecoderStickyError(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: "+strings.Repeat("x", 40)+"\n\ndata: a\n\n"), 16)
	for i := range 3 {
		if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("call %d: err = %v, want ErrEventTooLarge", i, err)
		}
	}
}

func TestDecoderReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), errReader{boom})
	got, err := decodeAll(r, 0)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if len(got) != 1 || string(got[0].Data) != "a" {
		t.Errorf("events = %+v, want one event a", got)
	}
}

func TestDecoderNoProgress(t *testing.T) {
	_, err := NewDecoder(errReader{nil}, 0).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("err = %v, want io.ErrNoProgress", err)
	}
}

func TestDecoderReset(t *testing.T) {
	d := NewDecoder(strings.NewReader("id: 1\ndata: a\n\ndata: partial"), 0)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	d.Reset(strings.NewReader("data: b\n\n"))
	ev, err := d.Next()
	if err != nil || string(ev.Data) != "b" || ev.ID != "" {
		t.Errorf("after Reset: event %+v, err %v; want data b, no id", ev, err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// FuzzDecoder checks that how the input is split into reads never changes
// the events decoded or the final error.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		"data: a\rdata: b\r\r",
		"event: x\nid: 3\nretry: 10\ndata: y\n\n: c\n\n",
		"\xef\xbb\xbfdata: a\n\ndata: b",
		"data: " + strings.Repeat("q", 70) + "\n\n",
		"data\n\ndata:\n\n\r\n\r",
	} {
		f.Add([]byte(s), uint64(1), uint8(0))
		f.Add([]byte(s), uint64(7), uint8(24))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, maxB uint8) {
		max := 0
		if maxB > 0 {
			max = int(maxB%64) + 1
		}
		want, wantErr := decodeAll(bytes.NewReader(in), max)

		rng := rand.New(rand.NewPCG(seed, uint64(len(in))))
		var pieces []string
		for rest := in; len(rest) > 0; {
			n := rng.IntN(min(len(rest), 9) + 1)
			pieces = append(pieces, string(rest[:n]))
			rest = rest[n:]
		}
		got, gotErr := decodeAll(newPieces(seed%2 == 0, pieces...), max)
		if gotErr != wantErr {
			t.Errorf("split into %q: final error %v, unsplit %v", pieces, gotErr, wantErr)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("split into %q: events differ (-unsplit +split):\n%s", pieces, diff)
		}
		for _, ev := range got {
			if max > 0 && len(ev.Data) > max {
				t.Errorf("event data of %d bytes passed the bound %d", len(ev.Data), max)
			}
		}
	})
}

func BenchmarkDecoder(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = fmt.Appendf(stream, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"tok%d \"}}]}\n\n", i)
	}
	r := bytes.NewReader(stream)
	d := NewDecoder(r, 0)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		d.Reset(r)
		n := 0
		for {
			if _, err := d.Next(); err != nil {
				break
			}
			n++
		}
		if n != 1000 {
			b.Fatalf("decoded %d events, want 1000", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}
