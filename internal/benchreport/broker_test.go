package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{999, "999"},
		{1000, "1,000"},
		{123456.6, "123,457"},
		{1234567, "1,234,567"},
	} {
		if got := thousands(tc.in); got != tc.want {
			t.Errorf("thousands(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBrokerChildProtocol drives the child side in-process: it must listen, answer its
// commands, report bad ones, and exit cleanly when its input closes.
func TestBrokerChildProtocol(t *testing.T) {
	spec, _ := json.Marshal(brokerChildSpec{Target: "kfake", Dir: t.TempDir(), ValueSize: 100})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- runBrokerChild(string(spec), inR, outW)
		outW.Close()
	}()
	out := bufio.NewScanner(outR)
	next := func() string {
		t.Helper()
		if !out.Scan() {
			t.Fatalf("child output ended: %v", out.Err())
		}
		return out.Text()
	}

	addr, ok := strings.CutPrefix(next(), "addr ")
	if !ok {
		t.Fatalf("first line is not an address")
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial child broker: %v", err)
	}
	c.Close()

	for _, tc := range []struct{ cmd, wantPrefix string }{
		{"cpu", "ok "},
		{"bogus", "err "},
	} {
		if _, err := io.WriteString(inW, tc.cmd+"\n"); err != nil {
			t.Fatal(err)
		}
		if got := next(); !strings.HasPrefix(got, tc.wantPrefix) {
			t.Errorf("%s: got %q, want prefix %q", tc.cmd, got, tc.wantPrefix)
		}
	}
	inW.Close()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("child exit code %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit after its input closed")
	}
}

func TestBrokerChildUnknownTarget(t *testing.T) {
	spec, _ := json.Marshal(brokerChildSpec{Target: "nope", Dir: t.TempDir()})
	var out strings.Builder
	if code := runBrokerChild(string(spec), strings.NewReader(""), &out); code == 0 {
		t.Errorf("exit code 0 for an unknown target")
	}
	if !strings.HasPrefix(out.String(), "err ") {
		t.Errorf("output %q, want an error line", out.String())
	}
}

// TestBrokerRunKfake runs one small workload end to end against kfake in a child
// process (this test binary, re-executed), as the report does.
func TestBrokerRunKfake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := brokerWorkload{valueSize: 100, records: 1003, partitions: 8}
	var target brokerTarget
	for _, tt := range brokerTargets(w) {
		if tt.id == "kfake" {
			target = tt
		}
	}
	s, err := brokerRun(ctx, target, w, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.produce <= 0 || s.consume <= 0 || s.produceCPU < 0 || s.consumeCPU < 0 {
		t.Errorf("sample %+v: want positive durations", s)
	}
}
