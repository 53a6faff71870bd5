package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path locates the value, e.g. "models[2].targets[0].provider"; empty
	// for a problem with the document as a whole (a YAML syntax error).
	Path string
	// Message says what is wrong. It never contains a secret.
	Message string
	// Line is the 1-based line of the value (or of its nearest enclosing
	// value when it is missing from the file); 0 when unknown.
	Line int
}

// String formats the problem as "path: message (line N)"; the line suffix
// is left out when unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError lists every problem found in a configuration, in
// document order. Load returns it for decode and validation failures alike,
// so a caller can show all of them at once.
type ValidationError struct {
	Problems []Problem
}

// Error joins the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
