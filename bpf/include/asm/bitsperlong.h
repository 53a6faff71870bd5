/* Architecture-neutral shim: the BPF object is built for -target bpfel on any
 * host, so the UAPI headers get the generic definitions instead of the build
 * host's /usr/include/<triplet>/asm ones (keeps make generate reproducible). */
#include <asm-generic/bitsperlong.h>
