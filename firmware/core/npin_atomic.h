/* Ordering primitives for the ring. GCC/Clang builtins work in C99 mode on the host and on
 * Cortex-M (plain loads/stores plus DMB; no read-modify-write is used here, so Cortex-M0 needs
 * no library support). Other compilers fall back to volatile accesses, which is enough for a
 * single-core MCU where the producer is an interrupt. */
#ifndef NPIN_ATOMIC_H
#define NPIN_ATOMIC_H

#if defined(__GNUC__) || defined(__clang__)
#define NPIN_LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define NPIN_LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define NPIN_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define NPIN_STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define NPIN_FENCE_ACQ() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define NPIN_FENCE_REL() __atomic_thread_fence(__ATOMIC_RELEASE)
#else
#define NPIN_LOAD_ACQ(p) (*(volatile const uint32_t *)(p))
#define NPIN_LOAD_RLX(p) (*(volatile const uint32_t *)(p))
#define NPIN_STORE_REL(p, v) (*(volatile uint32_t *)(p) = (v))
#define NPIN_STORE_RLX(p, v) (*(volatile uint32_t *)(p) = (v))
#define NPIN_FENCE_ACQ() ((void)0)
#define NPIN_FENCE_REL() ((void)0)
#endif

#endif
