package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"
)

// TestDemo runs `eddy demo` end to end: broker, topics, the runtime, and the final counts
// it prints, which must be the counts of the sample data.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{`(?m)^  the +3$`, `(?m)^  dog +3$`, `(?m)^  eddy +1$`, `(?m)^  /home +6$`, `(?m)^  /pricing +2$`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
