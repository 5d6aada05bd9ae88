package passthrough_test

import (
	"context"
	"fmt"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
	"github.com/streambench/streambench/impls/passthrough"
)

func ExampleNew() {
	src := conformance.NewSource(conformance.Response(1, 8, 16))
	sink := conformance.NewSink(conformance.DisconnectAfter(5))
	out := passthrough.New().Relay(context.Background(), impls.Request{ID: 1}, src, sink)
	fmt.Println(out.Delivered, out.Discarded, out.Err)
	// Output: 5 1 cancelled by client: write chunk 5: client gone
}
