package main

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic: "orders", Partition: 2, Offset: 41, Key: []byte("ada"), Value: []byte(`{"n":1}`),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "src", Value: []byte("web")}, {Key: "v", Value: []byte("2")}},
	}
	binary := &kgo.Record{Topic: "b", Key: []byte{0xff, 0x00}, Value: nil, Timestamp: time.UnixMilli(5)}
	tests := []struct {
		format string
		rec    *kgo.Record
		want   string
	}{
		{"value", rec, "{\"n\":1}\n"},
		{"key-value", rec, "ada\t{\"n\":1}\n"},
		{`%t/%p@%o %k=%v %T [%h] 100%%\n`, rec, "orders/2@41 ada={\"n\":1} 1700000000123 [src=web,v=2] 100%\n"},
		{`\t\\\r\0x`, rec, "\t\\\r\x00x"},
		{`plain`, rec, "plain"},
		{"", rec, ""},
		{"json", rec, `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":"ada","value":"{\"n\":1}",` +
			`"headers":[{"key":"src","value":"web"},{"key":"v","value":"2"}]}` + "\n"},
		{"json", binary, `{"topic":"b","partition":0,"offset":0,"timestamp":5,"key":null,"key_base64":"/wA=","value":null}` + "\n"},
		{"key-value", binary, "\xff\x00\t\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := parseFormat(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			// Appending keeps what the buffer already holds.
			if got := string(f([]byte(">"), tt.rec)); got != ">"+tt.want {
				t.Fatalf("got  %q\nwant %q", got, ">"+tt.want)
			}
		})
	}
}

func TestParseFormatErrors(t *testing.T) {
	for _, format := range []string{`%x`, `%`, `abc\`, `\q`, `%k %V`} {
		t.Run(format, func(t *testing.T) {
			if _, err := parseFormat(format); !errors.Is(err, errBadFormat) {
				t.Fatalf("err = %v, want errBadFormat", err)
			}
		})
	}
}
