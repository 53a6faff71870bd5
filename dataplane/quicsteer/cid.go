// Package quicsteer loads the sk_reuseport program of bpf/quic_reuseport.c,
// which sends every QUIC datagram to the worker socket that owns its
// destination connection ID, and reads its counters.
//
// The CID layout is shared with the program: byte 0 is the generation of the
// issuing process, byte 1 the worker slot, the rest is random. The socket
// map, indexed by generation and slot, is pinned per address, so during an
// upgrade the old and the new process share it: connections of the old
// generation keep reaching the old process's sockets until it drains, and
// new connections go to the newest generation. Route is the Go mirror of
// the program's parse, for user space to check where a datagram should have
// gone (and for tests to predict the kernel).
package quicsteer

import "encoding/binary"

// MaxSlots is the number of worker slots: the slot is one CID byte.
const MaxSlots = 256

// MaxGenerations is the number of generations: one CID byte.
const MaxGenerations = 256

// MinCIDLen is the shortest CID that holds the generation and the slot.
const MinCIDLen = 2

// Fallback is why a datagram was left to the kernel's 4-tuple hash. The
// numbers are those of enum weir_quic_fallback in bpf/quic_reuseport.c and
// are never reused.
type Fallback uint8

// The fallback reasons.
const (
	// FallbackNew: a new connection (Initial, Retry, version negotiation,
	// unknown version) while no generation takes new connections.
	FallbackNew Fallback = 0
	// FallbackForeignCID: a CID of another length, not issued by weir.
	FallbackForeignCID Fallback = 1
	// FallbackNoSocket: no socket for the CID's generation and slot (a
	// process that exited, or a CID weir never issued).
	FallbackNoSocket Fallback = 2
	// FallbackShort: a datagram too short to hold a QUIC header.
	FallbackShort Fallback = 3
	// fallbackMax is the first unused number.
	fallbackMax = 4
)

// Steered is what Route returns for a datagram it steers by CID.
const Steered Fallback = 0xff

// String is the metric label of f.
func (f Fallback) String() string {
	switch f {
	case FallbackNew:
		return "new_connection"
	case FallbackForeignCID:
		return "foreign_cid"
	case FallbackNoSocket:
		return "no_socket"
	case FallbackShort:
		return "short"
	case Steered:
		return "steered"
	}
	return "unknown"
}

const (
	quicV1 = 0x00000001
	quicV2 = 0x6b3343cf
	// peek is how many payload bytes the program loads.
	peek = 8
)

// Route mirrors the kernel program's parse of one UDP payload: for a
// datagram that carries a CID of length cidLen it returns the CID's
// generation and slot and Steered (the kernel steers it when that
// generation and slot have a socket, else falls back with
// FallbackNoSocket); otherwise the fallback reason (for FallbackNew the
// kernel sends it to a worker of the newest generation when there is one).
func Route(payload []byte, cidLen int) (gen uint8, slot int, why Fallback) {
	if len(payload) < peek {
		return 0, 0, FallbackShort
	}
	at := 1
	if payload[0]&0x80 != 0 {
		if !longHeaderSteerable(payload[0], binary.BigEndian.Uint32(payload[1:5])) {
			return 0, 0, FallbackNew
		}
		if int(payload[5]) != cidLen {
			return 0, 0, FallbackForeignCID
		}
		at = 6
	}
	if len(payload) < at+cidLen {
		return 0, 0, FallbackShort
	}
	return payload[at], int(payload[at+1]), Steered
}

// longHeaderSteerable: 0-RTT and Handshake packets of QUIC v1 and v2 (RFC
// 9369 permutes the type bits) carry the server's CID.
func longHeaderSteerable(first byte, version uint32) bool {
	typ := (first >> 4) & 3
	switch version {
	case quicV1:
		return typ == 1 || typ == 2
	case quicV2:
		return typ == 2 || typ == 3
	}
	return false
}

// CID fills b (len(b) >= MinCIDLen) with the fixed part of a connection ID
// for gen and slot; the caller fills b[2:] with random bytes.
func CID(b []byte, gen uint8, slot int) {
	b[0] = gen
	b[1] = byte(slot)
}
