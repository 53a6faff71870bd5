package quicsteer

// The object is compiled from bpf/quic_reuseport.c, bpfel only (x86-64 and
// arm64 hosts); committed like the guard's, so building weir needs no clang.
// -mcpu=v3 as the guard; nothing here needs more than v2.
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror -mcpu=v3" -output-stem steer -type weir_quic_current steer ../../bpf/quic_reuseport.c -- -I../../bpf/include
