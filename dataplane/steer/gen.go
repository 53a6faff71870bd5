package steer

// The object is compiled from bpf/steer.c (bpfel only: x86-64 and arm64
// hosts), like the guard's: DWARF stripped, BTF kept for the map layouts, so
// the committed object is reproducible with the same clang.
//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror -mcpu=v3" -output-dir internal/steerbpf -go-package steerbpf -type weir_steer_stat -type weir_steer_dst_key -type weir_steer_src_key -type weir_steer_dst_val -type weir_steer_src_val -type weir_steer_listener Steer ../../bpf/steer.c -- -I../../bpf/include
