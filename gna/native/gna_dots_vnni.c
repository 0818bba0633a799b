/* AVX-512 VNNI build of the dot-product kernel: gna_dots_avx512.c with VPDPWSSD. */
#define NPG_DOTS_VNNI 1
#include "gna_dots_avx512.c"
