/* The npin serial protocol, version 2 (docs/protocol.md): message types, error codes, sizes.
 * Every frame on the wire is COBS(header | payload | crc32) followed by one 0x00 byte. */
#ifndef NPIN_PROTO_H
#define NPIN_PROTO_H

#include <stdint.h>

#define NPIN_PROTO_VERSION 2u
#define NPIN_FRAME_HEADER 6u /* ver u8, type u8, seq u16, len u16 */
#define NPIN_FRAME_CRC 4u
#define NPIN_FRAME_OVERHEAD (NPIN_FRAME_HEADER + NPIN_FRAME_CRC)
#define NPIN_RESPONSE 0x80u /* a response's type is the request's type | 0x80 */
/* A request's type | 0x40: its payload went ahead in PART frames (with this frame's seq); this
 * frame carries the payload's length u16, the host's round u8, 0 u8 and CRC-32 u32. Answered as
 * the plain request, or E_PARTS naming the round and the blocks still missing. */
#define NPIN_STAGED 0x40u
#define NPIN_PART_BLOCK 32u /* PART offsets are multiples of this; missing parts are named per block */
#define NPIN_STAGE_WORDS(max_payload) (((max_payload) / NPIN_PART_BLOCK + 32u) / 32u)

enum npin_msg_type {
    NPIN_MSG_HELLO = 0x01,
    NPIN_MSG_SYNC = 0x02,
    NPIN_MSG_PUSH = 0x03,
    NPIN_MSG_STEP = 0x04,
    NPIN_MSG_READ_STATE = 0x05,
    NPIN_MSG_FEEDBACK = 0x06,
    NPIN_MSG_BENCH = 0x07,
    NPIN_MSG_RESET = 0x08,
    NPIN_MSG_PART = 0x09,  /* a piece of a staged request's payload: offset u16, bytes; not answered */
    NPIN_MSG_EVENT = 0x20, /* device to host, unsolicited */
    NPIN_MSG_ERROR = 0x7F  /* device to host */
};

enum npin_err_code {
    NPIN_E_CRC = 1,        /* CRC-32 of the frame does not match */
    NPIN_E_TRUNCATED = 2,  /* shorter than its header says, or than a header */
    NPIN_E_OVERSIZE = 3,   /* longer than the receive buffer: discarded up to the next 0x00 */
    NPIN_E_TYPE = 4,       /* unknown message type */
    NPIN_E_STALE = 5,      /* sequence number behind the last one applied */
    NPIN_E_VERSION = 6,    /* protocol version this firmware does not speak */
    NPIN_E_COBS = 7,       /* malformed COBS encoding */
    NPIN_E_ARG = 8,        /* a field out of range (facet, count, offset ...) */
    NPIN_E_PARAMS = 9,     /* the parameter block is missing or corrupt: nothing runs */
    NPIN_E_CORE = 10,      /* the Pin core returned an error status (in the text) */
    NPIN_E_PARTS = 11      /* a staged request's payload is incomplete: round u8, then a bitmap of
                              the missing blocks (bit i of byte i / 8: block i) */
};

#define NPIN_HELLO_FLAG_PARAMS_OK 0x0001u
#define NPIN_HELLO_FLAG_WARM 0x0002u   /* state survived a reset */
#define NPIN_HELLO_FLAG_BANNER 0x0004u /* sent at boot, not asked for */
#define NPIN_HELLO_FLAG_SIMD 0x0008u   /* an optimized kernel set is linked */
#define NPIN_HELLO_FLAG_PARTS 0x0010u  /* takes staged requests (PART frames) */

#define NPIN_STEP_RECORD 12u /* status i8, 0 u8, facet i16, score i16, tool u16, digest u32 */
#define NPIN_HELLO_BYTES 84u
#define NPIN_BUILD_ID_BYTES 32u
#define NPIN_PARAMS_ID_BYTES 16u
#define NPIN_BOARD_NAME_BYTES 16u

#define NPIN_RESET_STATE 0u  /* reload the Pin from the parameter block */
#define NPIN_RESET_REBOOT 1u /* system reset; the state is kept in retained RAM */

#endif
