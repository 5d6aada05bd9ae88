package httpmode

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStalledBodyTimesOut: a body that stops short of its Content-Length,
// or arrives a byte at a time, gets a 408 at the body read timeout and the
// connection is closed (the gateways read bodies the same way).
func TestStalledBodyTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p := NewProvider(newToySource(3, 0, -1), ProviderOptions{})
	srv := NewServer(p, ServerOptions{BodyReadTimeout: timeout})
	ln := serveRaw(t, srv)

	for _, tc := range []struct {
		name string
		send func(conn net.Conn, stop <-chan struct{})
	}{
		{"ten of 72 bytes, then a stall", func(conn net.Conn, _ <-chan struct{}) {
			io.WriteString(conn, `{"model":"m"`)
		}},
		{"a byte at a time", func(conn net.Conn, stop <-chan struct{}) {
			tick := time.NewTicker(timeout / 5)
			defer tick.Stop()
			for i := 0; i < 72; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte{' '}); err != nil {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "POST "+ProviderPath+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 72\r\n\r\n")
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); tc.send(conn, stop) }()
			defer func() { close(stop); <-done }()

			conn.SetReadDeadline(time.Now().Add(bound))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response within %v: %v", bound, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"type":"invalid_request_error"`) {
				t.Errorf("status %d, body %s; want 408 with an OpenAI-style error", resp.StatusCode, body)
			}
			// The connection is closed, not kept for another request.
			_, err = br.ReadByte()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open %v after the 408", bound)
			}
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("after the 408: %v; want the connection closed", err)
			}
		})
	}
}
