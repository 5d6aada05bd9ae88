package reports

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/perf/benchfmt"

	"github.com/streambench/streambench/result"
)

func TestWriteHTML(t *testing.T) {
	t.Parallel() // rendering is slow under -race
	var b bytes.Buffer
	if err := WriteHTML(&b, testHeader, chatRun(), DefaultOptions); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, b.Bytes())
}

// checkHTML parses a report and checks it is self-contained and complete.
func checkHTML(t *testing.T, page []byte) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("HTML does not parse: %v", err)
	}
	var imgs, captions int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "data:") {
					t.Errorf("<%s %s=%q> refers outside the file", n.Data, a.Key, a.Val)
				}
				if n.Data == "img" && a.Key == "src" {
					imgs++
					raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a.Val, "data:image/png;base64,"))
					if err != nil {
						t.Errorf("image data: %v", err)
					} else if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
						t.Errorf("embedded image is not PNG: %v", err)
					}
				}
			}
			if n.Data == "figcaption" {
				captions++
			}
			if n.Data == "script" || n.Data == "link" {
				t.Errorf("report has a <%s> element", n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if imgs < 10 || captions != imgs {
		t.Errorf("%d images and %d captions, want >= 10 images each captioned", imgs, captions)
	}
	s := string(page)
	for _, want := range []string{"Test CPU @ 3.0GHz", "go1.26.8", "abc1234", "bench run -trials 8",
		"lockfree was faster: 3.1x", "3.10x [2.99x 3.17x]", "higher is better"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(s, "http://") || strings.Contains(s, "https://") {
		t.Error("report mentions an http(s) URL")
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	in := t.TempDir()
	var b bytes.Buffer
	w := result.NewWriter(&b)
	if err := w.Write(testHeader); err != nil {
		t.Fatal(err)
	}
	trials := chatRun()
	for _, tr := range trials {
		if err := w.Write(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in, "run.jsonl"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if ws, err := Build(out, []string{in}, DefaultOptions); err != nil || len(ws) > 0 {
		t.Fatal(err, ws)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	checkHTML(t, page)
	if _, err := os.Stat(filepath.Join(out, "plots", "chat-throughput.svg")); err != nil {
		t.Error(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(md), "commit abc1234") {
		t.Errorf("summary.md: %v %q", err, md)
	}

	// The benchmark file must read back with benchfmt, one result per
	// trial, with the units benchstat will compare.
	f, err := os.Open(filepath.Join(out, "results.bench"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := benchfmt.NewReader(f, "results.bench")
	n := 0
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			t.Fatalf("record %d: %v", n, r.Result())
		}
		if n == 0 {
			if got := res.Name.String(); got != "Stream/scenario=chat/load=closed-1/variant=mutex-2" {
				t.Errorf("first name %q", got)
			}
			if v, ok := res.Value("chunks/s"); !ok || v < 8000 {
				t.Errorf("chunks/s = %v, %v", v, ok)
			}
			if res.GetConfig("commit") != "abc1234" {
				t.Errorf("commit config %q", res.GetConfig("commit"))
			}
		}
		n++
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(trials) {
		t.Errorf("%d benchmark lines, want %d", n, len(trials))
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"kind\":\"nope\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files []string
		want  string
	}{
		{"missing", []string{filepath.Join(dir, "missing.jsonl")}, "no such file"},
		{"bad record", []string{bad}, "no trial records in " + bad + " (1 lines skipped, the first: " + bad + ":1: unknown record kind"},
		{"empty dir", []string{t.TempDir()}, "no trial records"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(t.TempDir(), tt.files, DefaultOptions)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build = %v, want error containing %q", err, tt.want)
			}
		})
	}
}
