package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestTopicsCmd creates, lists, describes and deletes topics and checks what is printed.
func TestTopicsCmd(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.must("", "topics", "create", "orders", "--partitions", "3",
		"--config", "cleanup.policy=compact,delete", "--config", "retention.ms=3600000"); out != "created topic orders: 3 partitions, replication factor 1\n" {
		t.Fatalf("create: %q", out)
	}
	// -1 leaves the partition count to the broker, whose default is 1.
	if out := e.must("", "topics", "create", "plain"); out != "created topic plain: 1 partitions, replication factor 1\n" {
		t.Fatalf("create with broker defaults: %q", out)
	}
	e.must("k1:a\nk2:b\nk3:c\n", "produce", "orders", "--key-separator", ":", "--partition", "1")

	wantList := "TOPIC   PARTITIONS  REPLICAS\n" +
		"orders  3           1\n" +
		"plain   1           1\n"
	if out := e.must("", "topics", "list"); out != wantList {
		t.Fatalf("list:\n%s\nwant:\n%s", out, wantList)
	}

	wantDescribe := "topic orders: 3 partitions, replication factor 1\n" +
		"PARTITION  LEADER  REPLICAS  ISR  START  END\n" +
		"0          1       1         1    0      0\n" +
		"1          1       1         1    0      3\n" +
		"2          1       1         1    0      0\n" +
		"configs that differ from the defaults:\n" +
		"  cleanup.policy=compact,delete\n" +
		"  retention.ms=3600000\n"
	if out := e.must("", "topics", "describe", "orders"); out != wantDescribe {
		t.Fatalf("describe:\n%s\nwant:\n%s", out, wantDescribe)
	}
	if out := e.must("", "topics", "describe", "plain"); !strings.HasSuffix(out, "configs: all defaults\n") {
		t.Fatalf("describe plain:\n%s", out)
	}

	if out := e.must("", "topics", "delete", "orders", "plain"); out != "deleted topic orders\ndeleted topic plain\n" {
		t.Fatalf("delete: %q", out)
	}
	if out := e.must("", "topics", "list"); out != "TOPIC  PARTITIONS  REPLICAS\n" {
		t.Fatalf("list after delete:\n%s", out)
	}
}

func TestTopicsCmdErrors(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "exists")
	tests := []struct {
		name string
		args []string
		want string // a regexp the error must match
	}{
		{"create twice", []string{"topics", "create", "exists"}, `create topic exists: TOPIC_ALREADY_EXISTS`},
		{"config without value", []string{"topics", "create", "x", "--config", "retention.ms"}, `--config "retention.ms": want key=value`},
		{"config twice", []string{"topics", "create", "x", "--config", "a=1", "--config", "a=2"}, `a given twice`},
		{"unknown config", []string{"topics", "create", "x", "--config", "no.such.config=1"}, `create topic x: INVALID_CONFIG`},
		{"no name", []string{"topics", "create"}, `accepts 1 arg`},
		{"describe missing", []string{"topics", "describe", "nope"}, `describe topic nope: UNKNOWN_TOPIC_OR_PARTITION`},
		{"delete missing", []string{"topics", "delete", "exists", "nope"}, `delete topics: nope: UNKNOWN_TOPIC_OR_PARTITION`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.run("", tt.args...)
			if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Fatalf("err = %v, want it to match %s", err, tt.want)
			}
		})
	}
}
