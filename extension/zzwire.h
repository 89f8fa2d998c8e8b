/*
 * zzwire.h
 *	  The request and reply format, defined once: what the extension
 *	  (extension/) and the sidecar daemon (sidecar/daemon/) both compile.
 *
 * Dependency-free (C11 and its standard headers only), so that a
 * PostgreSQL backend and a plain program can both include it.
 *
 * The local client socket carries frames: a type byte and a u32
 * little-endian payload length, then the payload.  A call (the payload of
 * ZZ_FT_L_REQUEST, and a REQUEST's operation between replicas) and a
 * reply are, with big-endian integers:
 *
 *	 call	 := rolelen:uint32 role[rolelen] dblen:uint32 database[dblen]
 *				siglen:uint32 signature[siglen] nargs:uint32 arg{nargs}
 *	 arg	 := len:uint32 text[len]			(len = 0xFFFFFFFF: SQL NULL)
 *
 *	 reply	 := 'V' len:uint32 text[len]		(the result; 0xFFFFFFFF: NULL)
 *			  | 'E' sqlstate[5] len:uint32 message[len]
 *			  | 'F' sqlstate[5] len:uint32 message[len]
 *				len:uint32 detail[len] len:uint32 hint[len]
 *										(0xFFFFFFFF: no detail, no hint)
 *
 * An error with neither DETAIL nor HINT is always encoded as 'E', one with
 * either as 'F', so that equal errors give equal bytes on every replica.
 * No CONTEXT: it may name physical row locations, which differ between
 * replicas.
 *
 * The decoders check structure and sizes only; what is valid text (the
 * server encoding, no zero bytes) is the caller's to say, through a
 * callback run on each text in order, so that the first problem in the
 * bytes is the one reported.
 */
#ifndef ZZWIRE_H
#define ZZWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Local client socket frames (sidecar/daemon/local.c, extension/sidecar.c). */
#define ZZ_FRAME_HDR		5		/* type:u8 len:u32le */
#define ZZ_FT_L_REQUEST		0x10	/* call bytes: submit through the replicas */
#define ZZ_FT_L_RESULT		0x11	/* path:u8 view:u64le seq:u64le reply */
#define ZZ_FT_L_ERROR		0x12	/* a human-readable reason */
#define ZZ_FT_L_STATUS_REQ	0x13	/* empty */
#define ZZ_FT_L_STATUS		0x14	/* "key: value" lines */
#define ZZ_FT_L_RESULT_HDR	17		/* fixed part of ZZ_FT_L_RESULT */
#define ZZ_L_PATH_COMMIT	0x01	/* path: completed through the commit path */
#define ZZ_L_PATH_UNAPPLIED	0x80	/* path: complete, but this replica had not
									 * executed it within local_apply_wait
									 * (read-your-writes not guaranteed) */

/* Size limits. */
#define ZZ_WIRE_MAX_OP		(1u << 20)	/* one call's bytes */
#define ZZ_WIRE_MAX_REPLY	(1u << 20)	/* one reply's bytes */
#define ZZ_WIRE_MAX_STATUS	(1u << 20)	/* a ZZ_FT_L_STATUS payload */
#define ZZ_WIRE_MAX_NAME	63			/* role and database names (NAMEDATALEN - 1) */
#define ZZ_WIRE_MAX_SIGNATURE (64 * 1024)
#define ZZ_WIRE_MAX_ARGS	100			/* FUNC_MAX_ARGS */
#define ZZ_WIRE_NULL		0xFFFFFFFFu /* the length of an SQL NULL */

/* A text in a call or reply: points into the bytes; p == NULL: SQL NULL. */
typedef struct zz_wire_text
{
	const char *p;
	uint32_t	len;
} zz_wire_text;

typedef struct zz_wire_call
{
	zz_wire_text role;
	zz_wire_text database;
	zz_wire_text signature;
	uint32_t	nargs;
	zz_wire_text args[ZZ_WIRE_MAX_ARGS];
} zz_wire_call;

typedef struct zz_wire_reply
{
	bool		is_error;
	char		sqlstate[6];	/* for an error: five characters and a NUL */
	zz_wire_text text;			/* result (p NULL: SQL NULL) or message */
	zz_wire_text detail;		/* an error's DETAIL (p NULL: none) */
	zz_wire_text hint;			/* an error's HINT (p NULL: none) */
} zz_wire_reply;

/* Is a text acceptable?  false and *why if not. */
typedef bool (*zz_wire_text_check) (void *arg, const char *p, uint32_t len, const char **why);

/* Big-endian integers (calls, replies, batches). */
extern void zz_wire_put_u32(uint8_t *p, uint32_t v);
extern void zz_wire_put_u64(uint8_t *p, uint64_t v);
extern uint32_t zz_wire_get_u32(const uint8_t *p);
extern uint64_t zz_wire_get_u64(const uint8_t *p);

/* The length a frame header declares (little-endian). */
extern uint32_t zz_wire_frame_len(const uint8_t *hdr);

/* Bytes of a call, and its encoding into out (that many bytes). */
extern size_t zz_wire_call_size(const zz_wire_call *call);
extern void zz_wire_encode_call(uint8_t *out, const zz_wire_call *call);

/*
 * Read a call: false and *why (a static string, or the check's) if the
 * bytes are not one.  check (may be NULL) is run on each text as it is
 * read; the texts point into data.
 */
extern bool zz_wire_decode_call(const uint8_t *data, size_t len, zz_wire_call *call,
								zz_wire_text_check check, void *arg, const char **why);

/* Bytes of a reply, and its encoding into out (that many bytes). */
extern size_t zz_wire_reply_size(const zz_wire_reply *reply);
extern void zz_wire_encode_reply(uint8_t *out, const zz_wire_reply *reply);

/* Read a reply, as zz_wire_decode_call reads a call. */
extern bool zz_wire_decode_reply(const uint8_t *data, size_t len, zz_wire_reply *reply,
								 zz_wire_text_check check, void *arg, const char **why);

#endif							/* ZZWIRE_H */
