package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/httpmode/attack"
	"github.com/streambench/streambench/impls/variant"
)

// openAINodeEnv asks for TestOpenAINodeClient, which installs the npm
// package openai into a temporary folder (.ci/run sets it).
const openAINodeEnv = "STREAMBENCH_OPENAI_NODE"

// openAINodeVersion pins the client: version 4 supports Node 18 and later.
const openAINodeVersion = "openai@4"

// TestOpenAINodeClient: the official OpenAI Node client, given nothing but a
// base URL, streams the same text, finish reason and usage from the
// provider and from every gateway of a bench serve process.
func TestOpenAINodeClient(t *testing.T) {
	if os.Getenv(openAINodeEnv) != "1" {
		t.Skipf("set %s=1 to install the OpenAI Node client from npm and test against it", openAINodeEnv)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s=1 but %s is not installed", openAINodeEnv, tool)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, openAINodeVersion)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", openAINodeVersion, err, out)
	}
	script, err := os.ReadFile("testdata/openai-stream.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}

	serve := exec.Command(os.Args[0], "serve", "-addr", "127.0.0.1:0", "-scenario", "chat")
	serve.Env = append(os.Environ(), "STREAMBENCH_TEST_MAIN=1")
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	out, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	url, err := attack.ReadServeURL(bufio.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, serveErr.String())
	}

	bases := []string{url + "/provider/v1"}
	for _, name := range variant.Names() {
		bases = append(bases, url+"/"+name+"/v1")
	}
	node := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, "stream.mjs")}, bases...)...)
	var nodeErr bytes.Buffer
	node.Stderr = &nodeErr
	got, err := node.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\nserve:\n%s", err, nodeErr.String(), serveErr.String())
	}
	type usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	}
	type response struct {
		BaseURL string `json:"baseURL"`
		Text    string `json:"text"`
		Finish  string `json:"finish"`
		Usage   *usage `json:"usage"`
	}
	var rs []response
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		var r response
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("node printed %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	if len(rs) != len(bases) {
		t.Fatalf("%d responses for %d base URLs:\n%s", len(rs), len(bases), got)
	}
	want := rs[0]
	// "Tell me a story." is 16 bytes (4 tokens) in one message (4 more).
	if want.Text == "" || want.Finish == "" || want.Usage == nil || want.Usage.PromptTokens != 8 ||
		want.Usage.CompletionTokens == 0 || want.Usage.TotalTokens != want.Usage.PromptTokens+want.Usage.CompletionTokens {
		t.Fatalf("provider: %d bytes of text, finish %q, usage %+v", len(want.Text), want.Finish, want.Usage)
	}
	for _, r := range rs[1:] {
		if r.Text != want.Text || r.Finish != want.Finish || r.Usage == nil || *r.Usage != *want.Usage {
			t.Errorf("%s: %d bytes of text (same: %v), finish %q, usage %+v; the provider gave %d bytes, %q, %+v",
				r.BaseURL, len(r.Text), r.Text == want.Text, r.Finish, r.Usage, len(want.Text), want.Finish, *want.Usage)
		}
	}
}
