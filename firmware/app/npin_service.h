/* The device end of the protocol (docs/protocol.md): reassembles frames from received bytes,
 * checks them, applies each sequence number once, and answers. Portable C99: the same file runs
 * in the firmware and, for tests, on the host. */
#ifndef NPIN_SERVICE_H
#define NPIN_SERVICE_H

#include <stdint.h>

#include "npin_core.h"
#include "npin_proto.h"

/* A command is applied entirely or not at all, whatever instant a reset hits (docs/protocol.md §5).
 * The session record is written twice over, A/B: a new record goes to the older copy and its CRC
 * word is stored last, so a reset leaves the previous record current. Before a command changes the
 * slab, the bytes it will change are copied to the journal and a record naming the journal is
 * committed; the record that ends the command clears it. A boot that finds the journal named
 * copies it back (UNDO) or reloads the Pin from flash (RELOAD), then the host's retry applies the
 * command afresh. */
enum npin_journal_kind { NPIN_JOURNAL_NONE = 0, NPIN_JOURNAL_UNDO = 1, NPIN_JOURNAL_RELOAD = 2 };

#define NPIN_JOURNAL_SEGMENTS 4u
#define NPIN_JOURNAL_HEAD (4u + 8u * NPIN_JOURNAL_SEGMENTS) /* count u32, then (offset, bytes) u32 pairs */
/* Enough for any command: the state, the ring's stamps and the slots one PUSH payload can fill. */
#define NPIN_JOURNAL_BYTES(D, K, R, W, P) \
    NPIN_ALIGN8(NPIN_JOURNAL_HEAD + NPIN_STATE_BYTES(D, K, R, W) + 4u * (R) + (P))

typedef struct npin_session {
    uint32_t magic;
    uint32_t gen;         /* of two valid records, the one with the later generation is current */
    uint32_t boot_count;
    uint16_t last_seq;
    uint8_t have_last;
    uint8_t resp_ok;      /* resp holds last_seq's response */
    uint16_t resp_len;
    uint16_t event_seq;
    uint8_t journal;      /* enum npin_journal_kind: set while a command may have changed the slab */
    uint8_t pad[3];
    uint8_t params_id[NPIN_PARAMS_ID_BYTES];
    uint32_t check;       /* CRC-32 of the fields above, stored last */
} npin_session_t;

typedef struct npin_service {
    /* set by the caller before npin_service_boot */
    uint8_t *slab;              /* 8-aligned, retained across warm resets */
    uint32_t slab_capacity;
    const uint8_t *params;      /* the parameter block in flash */
    npin_session_t *records;    /* retained: two of them */
    uint8_t *journal;           /* retained, 8-aligned */
    uint32_t journal_capacity;
    uint8_t *resp;              /* retained; NPIN_FRAME_OVERHEAD + max_payload bytes */
    uint8_t *rx;                /* 2 bytes past an 8-aligned address (payloads land aligned) */
    uint8_t *stage;             /* 8-aligned, max_payload bytes: a staged payload; 0: no PART frames */
    uint32_t *stage_have;       /* NPIN_STAGE_WORDS(max_payload) words: which blocks have arrived */
    uint32_t rx_capacity;       /* encoded bytes rx can hold */
    uint16_t max_payload;
    const uint8_t *build_id;    /* NPIN_BUILD_ID_BYTES */
    const char *board;
    uint16_t hello_flags;       /* NPIN_HELLO_FLAG_SIMD where it applies */
    void (*put)(uint8_t byte);
    void (*flush)(void);
    void (*reboot)(void);
    uint32_t (*ticks)(void);    /* 0 where the board has no usable counter */
    uint8_t ticks_source;       /* 0 none, 1 SysTick, 2 DWT CYCCNT, 3 nRF51 TIMER0: CPU cycles */
    void (*ticks_run)(int on);  /* 0, or starts (1) / stops (0) a counter that runs only for BENCH */
    uint32_t faults;            /* faults since power-on (each restarted the board), for HELLO */
    /* private */
    npin_session_t ss;          /* the working copy of the current record */
    uint8_t active;             /* which record is current */
    uint8_t stage_live;         /* stage holds parts of the request numbered stage_seq */
    uint16_t stage_seq;
    uint32_t rx_len;
    uint8_t rx_overflow;
    uint8_t params_ok;
    uint8_t warm;
    const char *params_error;
} npin_service_t;

/* Check the parameter block, keep or reload the slab, send the HELLO banner (or an ERROR). */
void npin_service_boot(npin_service_t *s);

/* Feed one received byte; a 0x00 completes a frame, which is handled at once. */
void npin_service_byte(npin_service_t *s, uint8_t byte);

/* CRC-32 of the Pin's mutable state: header, m, v, x_last, then thresholds (docs/protocol.md). */
uint32_t npin_state_digest(const uint8_t *slab);

#endif
