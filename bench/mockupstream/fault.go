package mockupstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a failure the mock can produce.
type FaultKind string

// The fault kinds. "After N" counts content chunks (text, thinking or tool
// argument deltas): with N = 0 the status line, headers and the stream's
// opening events (role chunk, message_start, ...) are sent, no content.
const (
	// FaultStatus answers Status with the provider-shaped error body.
	FaultStatus FaultKind = "status"
	// FaultReset resets the TCP connection before any response byte.
	FaultReset FaultKind = "reset"
	// FaultResetAfter resets the connection after After content chunks (a
	// non-streaming answer: after the headers and half the body).
	FaultResetAfter FaultKind = "reset-after"
	// FaultSlowFirstByte waits Delay before the status line.
	FaultSlowFirstByte FaultKind = "slow-first-byte"
	// FaultChunkDelay waits Delay between content chunks (a non-streaming
	// answer: between the headers and the body).
	FaultChunkDelay FaultKind = "chunk-delay"
	// FaultHang sends nothing until the client gives up (or the Server closes).
	FaultHang FaultKind = "hang"
	// FaultHangAfter hangs after After content chunks.
	FaultHangAfter FaultKind = "hang-after"
	// FaultMalformed answers 200 with a body that is not valid JSON (a stream:
	// an event whose data is not JSON, then the end of the stream).
	FaultMalformed FaultKind = "malformed"
	// FaultSSEError sends the provider's in-stream error event after After
	// content chunks and ends the stream (a non-streaming request gets 500).
	FaultSSEError FaultKind = "sse-error"
)

// Bounds on fault parameters, so a typo cannot hang a test run for hours.
const (
	maxFaultDelay = 10 * time.Minute
	maxFaultCount = 1_000_000
)

// Fault is one injected failure. Its text form (String, ParseFault) is what
// the x-mock-fault header and POST /_mock/faults take:
//
//	status:503                      status:429,retry-after=2   status:429,retry-after-ms=1500
//	reset                           reset-after:3              hang          hang-after:1
//	slow-first-byte:2s              chunk-delay:100ms          malformed     sse-error:2
//
// Any of them may add ",model=NAME" (only requests for that model; others
// pass through and do not consume it) and ",times=N" (a queued fault serves
// the next N matching requests).
type Fault struct {
	Kind FaultKind
	// Status is the HTTP status of a FaultStatus (400..599).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header in seconds.
	RetryAfter int
	// RetryAfterMS, when set, is sent as the retry-after-ms header.
	RetryAfterMS int
	// Delay is the wait of FaultSlowFirstByte and FaultChunkDelay.
	Delay time.Duration
	// After is the number of content chunks FaultResetAfter, FaultHangAfter
	// and FaultSSEError let through first.
	After int
	// Model restricts the fault to requests for this model.
	Model string
	// Times is how many requests a queued fault serves (0 means 1).
	Times int
}

// ParseFault parses the text form of a Fault.
func ParseFault(spec string) (Fault, error) {
	var f Fault
	parts := strings.Split(strings.TrimSpace(spec), ",")
	kind, value, hasValue := strings.Cut(strings.TrimSpace(parts[0]), ":")
	f.Kind = FaultKind(kind)
	var err error
	switch f.Kind {
	case FaultStatus:
		if !hasValue {
			return Fault{}, fmt.Errorf("fault %q: status needs a code, e.g. status:503", spec)
		}
		if f.Status, err = parseCount("status", value); err != nil {
			return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
		}
	case FaultSlowFirstByte, FaultChunkDelay:
		if !hasValue {
			return Fault{}, fmt.Errorf("fault %q: %s needs a duration, e.g. %s:500ms", spec, kind, kind)
		}
		if f.Delay, err = time.ParseDuration(value); err != nil {
			return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
		}
	case FaultResetAfter, FaultHangAfter:
		if !hasValue {
			return Fault{}, fmt.Errorf("fault %q: %s needs a chunk count, e.g. %s:2", spec, kind, kind)
		}
		if f.After, err = parseCount("chunk count", value); err != nil {
			return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
		}
	case FaultSSEError:
		if hasValue {
			if f.After, err = parseCount("chunk count", value); err != nil {
				return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
			}
		}
	case FaultReset, FaultHang, FaultMalformed:
		if hasValue {
			return Fault{}, fmt.Errorf("fault %q: %s takes no value", spec, kind)
		}
	default:
		return Fault{}, fmt.Errorf("fault %q: unknown kind %q", spec, kind)
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: option %q is not key=value", spec, p)
		}
		switch k {
		case "retry-after":
			f.RetryAfter, err = parseCount(k, v)
		case "retry-after-ms":
			f.RetryAfterMS, err = parseCount(k, v)
		case "times":
			f.Times, err = parseCount(k, v)
		case "model":
			f.Model = v
		default:
			err = fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
		}
	}
	if err := f.Validate(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
	}
	return f, nil
}

func parseCount(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxFaultCount {
		return 0, fmt.Errorf("%s %q: want an integer from 0 to %d", name, v, maxFaultCount)
	}
	return n, nil
}

// Validate reports a fault whose fields do not fit its kind.
func (f Fault) Validate() error {
	switch f.Kind {
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status %d: want 400..599", f.Status)
		}
	case FaultSlowFirstByte, FaultChunkDelay:
		if f.Delay <= 0 || f.Delay > maxFaultDelay {
			return fmt.Errorf("delay %v: want more than 0 and at most %v", f.Delay, maxFaultDelay)
		}
	case FaultReset, FaultResetAfter, FaultHang, FaultHangAfter, FaultMalformed, FaultSSEError:
	case "":
		return errors.New("fault kind is empty")
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if (f.RetryAfter != 0 || f.RetryAfterMS != 0) && f.Kind != FaultStatus {
		return errors.New("retry-after applies to status faults only")
	}
	for _, n := range []int{f.After, f.RetryAfter, f.RetryAfterMS, f.Times} {
		if n < 0 || n > maxFaultCount {
			return fmt.Errorf("count %d: want 0..%d", n, maxFaultCount)
		}
	}
	if strings.ContainsAny(f.Model, ",=") || strings.TrimSpace(f.Model) != f.Model {
		return fmt.Errorf("model %q: must not contain ',' or '=' or surrounding spaces", f.Model)
	}
	return nil
}

// String is the text form ParseFault reads back.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	switch f.Kind {
	case FaultStatus:
		b.WriteString(":" + strconv.Itoa(f.Status))
	case FaultSlowFirstByte, FaultChunkDelay:
		b.WriteString(":" + f.Delay.String())
	case FaultResetAfter, FaultHangAfter, FaultSSEError:
		b.WriteString(":" + strconv.Itoa(f.After))
	}
	if f.RetryAfter != 0 {
		b.WriteString(",retry-after=" + strconv.Itoa(f.RetryAfter))
	}
	if f.RetryAfterMS != 0 {
		b.WriteString(",retry-after-ms=" + strconv.Itoa(f.RetryAfterMS))
	}
	if f.Model != "" {
		b.WriteString(",model=" + f.Model)
	}
	if f.Times != 0 {
		b.WriteString(",times=" + strconv.Itoa(f.Times))
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler (the JSON form is the text form).
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Fault) UnmarshalText(b []byte) error {
	v, err := ParseFault(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// needsAnswer reports faults that shape a normal answer, so they cannot act
// on a request that has none.
func (f Fault) needsAnswer() bool {
	switch f.Kind {
	case FaultStatus, FaultReset, FaultHang, FaultSlowFirstByte:
		return false
	}
	return true
}

func (f Fault) matches(model string) bool { return f.Model == "" || f.Model == model }
