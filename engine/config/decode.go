package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The YAML layer: walking yaml.v3 nodes while keeping, for every value, the
// dotted key and the line to blame. Decoding stops reporting at the first
// problem (d.err); later calls still run but return zero values, so section
// decoders need no error plumbing and must only stay nil-safe.

// decoder holds the first error and what the cross-section checks need.
type decoder struct {
	file string
	err  *Error

	interfaces []string // server.interfaces, for subnets[].interface
	relNames   []string // relationships[].name in file order
	relAt      []val    // relationships[].name settings, for errors about them
	classNames []string // classes[].name in file order, for pools[].classes
	pools      []span   // address pools and pd-pools, which must not overlap
	subnetSpan []span   // subnet prefixes, which must not overlap
	reserved   []span   // reserved addresses and prefixes, which must not overlap
}

func (d *decoder) failf(line int, key, format string, args ...any) {
	if d.err == nil {
		d.err = &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
}

// val is one setting. n is nil when the key is absent or its value is null.
// line is where the value is (for "this value is wrong"); keyLine is where
// its key is, or the enclosing item when the key is absent (for "this is
// missing").
type val struct {
	n       *yaml.Node
	key     string
	line    int
	keyLine int
}

func (v val) set() bool { return v.n != nil }

// fields is a decoded mapping: its keys, checked against the valid ones.
type fields struct {
	key  string // dotted path of the mapping itself
	line int    // line to blame for a missing key
	vals map[string]val
}

// get returns the setting k of the mapping; absent keys blame the mapping.
func (f fields) get(k string) val {
	if v, ok := f.vals[k]; ok {
		return v
	}
	return val{key: join(f.key, k), line: f.line, keyLine: f.line}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

const aliasMsg = "YAML aliases are not supported; write the value out"

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node is, for "want X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// mapping decodes v as a mapping whose keys must be among valid.
func (d *decoder) mapping(v val, valid ...string) fields {
	f := fields{key: v.key, line: v.keyLine, vals: map[string]val{}}
	if v.n == nil {
		return f
	}
	if v.n.Kind != yaml.MappingNode {
		d.failf(v.line, v.key, "want a mapping with keys %s, got %s", strings.Join(valid, ", "), describe(v.n))
		return f
	}
	for i := 0; i+1 < len(v.n.Content); i += 2 {
		k, x := v.n.Content[i], v.n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.failf(k.Line, v.key, "keys must be plain names, got %s", describe(k))
			return f
		}
		p := join(v.key, k.Value)
		if !slices.Contains(valid, k.Value) {
			d.failf(k.Line, p, "unknown key; valid keys here: %s", strings.Join(valid, ", "))
			return f
		}
		if prev, dup := f.vals[k.Value]; dup {
			d.failf(k.Line, p, "duplicate key; first set on line %d", prev.keyLine)
			return f
		}
		if x.Kind == yaml.AliasNode {
			d.failf(x.Line, p, aliasMsg)
			return f
		}
		e := val{n: x, key: p, line: x.Line, keyLine: k.Line}
		if isNull(x) {
			e.n, e.line = nil, k.Line
		}
		f.vals[k.Value] = e
	}
	return f
}

// seq decodes v as a list; null items come back unset.
func (d *decoder) seq(v val) []val {
	if v.n == nil {
		return nil
	}
	if v.n.Kind != yaml.SequenceNode {
		d.failf(v.line, v.key, "want a list, got %s", describe(v.n))
		return nil
	}
	out := make([]val, 0, len(v.n.Content))
	for i, x := range v.n.Content {
		e := val{n: x, key: v.key + "[" + strconv.Itoa(i) + "]", line: x.Line, keyLine: x.Line}
		if x.Kind == yaml.AliasNode {
			d.failf(x.Line, e.key, aliasMsg)
			return nil
		}
		if isNull(x) {
			e.n = nil
		}
		out = append(out, e)
	}
	return out
}

// scalar returns v's text; want names what was expected, for the error.
func (d *decoder) scalar(v val, want string) string {
	if v.n == nil {
		return ""
	}
	if v.n.Kind != yaml.ScalarNode {
		d.failf(v.line, v.key, "want %s, got %s", want, describe(v.n))
		return ""
	}
	return v.n.Value
}

func (d *decoder) str(v val) string { return d.scalar(v, "a string") }

func (d *decoder) boolean(v val) bool {
	s := d.scalar(v, "true or false")
	switch strings.ToLower(s) {
	case "", "false":
		return false
	case "true":
		return true
	}
	d.failf(v.line, v.key, "invalid boolean %q: want true or false", s)
	return false
}

func (d *decoder) integer(v val, lo, hi int) int {
	s := d.scalar(v, "a whole number")
	if v.n == nil || d.err != nil {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		d.failf(v.line, v.key, "invalid value %q: want a whole number from %d to %d", s, lo, hi)
		return 0
	}
	return n
}

func (d *decoder) fraction(v val) float64 {
	s := d.scalar(v, "a number from 0 to 1")
	if v.n == nil || d.err != nil {
		return 0
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || !(x >= 0 && x <= 1) {
		d.failf(v.line, v.key, "invalid value %q: want a number from 0 to 1", s)
		return 0
	}
	return x
}

func (d *decoder) duration(v val) time.Duration {
	s := d.scalar(v, "a duration like 30m")
	if v.n == nil || d.err != nil {
		return 0
	}
	x, err := parseDuration(s)
	if err != nil {
		d.failf(v.line, v.key, "%v", err)
	}
	return x
}

// parseYAML decodes data into its top-level node: nil for an empty file.
// yaml.v3 reports "yaml: line N: msg"; that becomes an *Error with the line.
// A panic inside the YAML library (a bug there) is reported as an error
// rather than taking down `tandem config check`.
func parseYAML(path string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{File: path, Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(path, err)
		}
		return nil, &Error{File: path, Line: extra.Line, Msg: "a second YAML document; a config is one document (remove the extra ---)"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.AliasNode {
		return nil, &Error{File: path, Line: root.Line, Msg: aliasMsg}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: root.Line,
			Msg: fmt.Sprintf("want a mapping with keys %s at the top level, got %s", strings.Join(topKeys, ", "), describe(root))}
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(path string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: "YAML: " + m[2]}
	}
	return &Error{File: path, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
