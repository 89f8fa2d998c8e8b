/*
 * nullservice.h
 *	  The paper's 0/0 benchmark service: it does nothing and answers every
 *	  request with a reply of a fixed size.
 */
#ifndef ZZD_NULLSERVICE_H
#define ZZD_NULLSERVICE_H

#include "service.h"

typedef struct nullsvc nullsvc;

extern nullsvc *nullsvc_create(uint32_t reply_size);
extern void nullsvc_free(nullsvc *ns);

/* The zz_service vtable over ns (valid as long as ns is). */
extern const zz_service *nullsvc_service(nullsvc *ns);

#endif							/* ZZD_NULLSERVICE_H */
