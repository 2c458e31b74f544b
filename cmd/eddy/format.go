package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// errBadFormat is returned for a --format that cannot be parsed.
var errBadFormat = errors.New("bad format")

// namedFormats are the --format shorthands; json has its own encoder.
var namedFormats = map[string]string{
	"value":     `%v\n`,
	"key-value": `%k\t%v\n`,
}

// recordFormat appends a record, as --format asks, to a buffer.
type recordFormat func(dst []byte, r *kgo.Record) []byte

// parseFormat compiles a --format value: a shorthand (value, key-value, json) or a
// template of verbs and escapes, documented in consume's help.
func parseFormat(s string) (recordFormat, error) {
	if s == "json" {
		return appendJSON, nil
	}
	if named, ok := namedFormats[s]; ok {
		s = named
	}
	var parts []recordFormat
	lit := []byte(nil)
	flush := func() {
		if len(lit) > 0 {
			l := lit
			parts = append(parts, func(dst []byte, _ *kgo.Record) []byte { return append(dst, l...) })
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit = append(lit, c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%w %q: it ends in a lone %c", errBadFormat, s, c)
		}
		i++
		if c == '\\' {
			e, ok := formatEscapes[s[i]]
			if !ok {
				return nil, fmt.Errorf("%w %q: unknown escape \\%c", errBadFormat, s, s[i])
			}
			lit = append(lit, e)
			continue
		}
		if s[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		verb, ok := formatVerbs[s[i]]
		if !ok {
			return nil, fmt.Errorf("%w %q: unknown verb %%%c", errBadFormat, s, s[i])
		}
		flush()
		parts = append(parts, verb)
	}
	flush()
	return func(dst []byte, r *kgo.Record) []byte {
		for _, p := range parts {
			dst = p(dst, r)
		}
		return dst
	}, nil
}

// formatEscapes are the backslash escapes of --format, so that a shell's single quotes
// can carry a tab or a newline.
var formatEscapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '0': 0, '\\': '\\'}

// formatVerbs are the %-verbs of --format.
var formatVerbs = map[byte]recordFormat{
	't': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Topic...) },
	'p': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(r.Partition), 10) },
	'o': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Offset, 10) },
	'k': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Key...) },
	'v': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Value...) },
	'T': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10) },
	'h': func(dst []byte, r *kgo.Record) []byte {
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(append(append(dst, h.Key...), '='), h.Value...)
		}
		return dst
	},
}

// jsonRecord is one line of --format json. Keys and values that are not valid UTF-8
// go base64-encoded in the *_base64 field instead, so no byte is lost.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// jsonBytes splits b into the text and base64 fields: nil stays null.
func jsonBytes(b []byte) (text *string, b64 string) {
	switch {
	case b == nil:
		return nil, ""
	case utf8.Valid(b):
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func appendJSON(dst []byte, r *kgo.Record) []byte {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	b, _ := json.Marshal(j) // strings, integers and pointers to strings: it cannot fail
	return append(append(dst, b...), '\n')
}
