/* The store's records: key builders and the codecs of every record kind.
 * Pure functions of bytes; no store access. */
#include "policydb-private.h"

#include <string.h>

/* --- keys --- */

size_t pdb_device_key(const char *account, const struct clientid_fp *fp, uint8_t *key)
{
	size_t n = strlen(account);
	memcpy(key, account, n);
	key[n] = 0;
	memcpy(key + n + 1, fp->b, CLIENTID_FP_LEN);
	return n + 1 + CLIENTID_FP_LEN;
}

size_t pdb_touch_key(const struct clientid_fp *fp, const char *account, uint8_t *key)
{
	size_t n = strlen(account);
	memcpy(key, fp->b, PDB_FP_ROUTINE);
	memcpy(key + PDB_FP_ROUTINE, account, n);
	return PDB_FP_ROUTINE + n;
}

size_t pdb_ban_key(const struct clientid_fp *fp, const char *account, uint8_t *key)
{
	/* Never memcpy from NULL, even 0 bytes: the compiler would conclude
	 * account != NULL in the caller (read_ban() regression test in
	 * test_store.c, "precheck, limits, walking device"). */
	size_t n = account != NULL ? strlen(account) : 0;
	memcpy(key, fp->b, CLIENTID_FP_LEN);
	if (n > 0)
		memcpy(key + CLIENTID_FP_LEN, account, n);
	return CLIENTID_FP_LEN + n;
}

/* --- records --- */

/* Durable device: state, type length, label length, 0, first seen, seen day,
 * type, label. 12 to 92 bytes. */
size_t pdb_device_encode(const struct clientid_device *d, uint8_t *buf)
{
	size_t tl = strnlen(d->type, CLIENTID_TYPE_MAX);
	size_t ll = strnlen(d->label, CLIENTID_LABEL_MAX);
	buf[0] = (uint8_t)d->state;
	buf[1] = (uint8_t)tl;
	buf[2] = (uint8_t)ll;
	buf[3] = 0;
	pdb_put32(buf + 4, d->first_seen);
	pdb_put32(buf + 8, d->seen_day);
	memcpy(buf + 12, d->type, tl);
	memcpy(buf + 12 + tl, d->label, ll);
	return 12 + tl + ll;
}

int pdb_device_decode(const void *val, size_t len, struct clientid_device *d)
{
	const uint8_t *b = val;
	if (len < 12 || b[1] > CLIENTID_TYPE_MAX || b[2] > CLIENTID_LABEL_MAX ||
	    len != 12u + b[1] + b[2] || b[0] < CLIENTID_DEV_PENDING || b[0] > CLIENTID_DEV_BLOCKED)
		return CLIENTID_E_STORE_CORRUPT;
	d->state = (enum clientid_device_state)b[0];
	d->first_seen = pdb_get32(b + 4);
	d->seen_day = pdb_get32(b + 8);
	memcpy(d->type, b + 12, b[1]);
	d->type[b[1]] = '\0';
	memcpy(d->label, b + 12 + b[1], b[2]);
	d->label[b[2]] = '\0';
	return 0;
}

/* Routine device (a trace): last seen, successes, failures, family,
 * protocol, copied state (0 without a copy), flags, the address (4 bytes
 * with TRACE_ADDR4, else 16), then with TRACE_COPY the device version and
 * seen day of the copy, then with TRACE_PAIR (schema 3) the last verified
 * password, the last allowed login, the pair's failure window (start,
 * count), and the allowed login's family, 3 zero bytes and address (16).
 * 20 to 80 bytes; 32 with flags 0 is the first layout. */
#define TRACE_ADDR4    0x01
#define TRACE_COPY     0x02
#define TRACE_PAIR     0x04
#define TRACE_PAIR_LEN 36

static size_t trace_addr_len(const uint8_t *b)
{
	return (b[15] & TRACE_ADDR4) != 0 ? 4 : 16;
}

static size_t trace_pair_off(const uint8_t *b)
{
	return 16 + trace_addr_len(b) + ((b[15] & TRACE_COPY) != 0 ? PDB_VERSION_LEN + 4 : 0);
}

static void trace_pair_encode(const struct clientid_device *d, uint8_t *p)
{
	pdb_put32(p, d->last_verified);
	pdb_put32(p + 4, d->last_ok);
	pdb_put32(p + 8, d->pair_fail.start);
	pdb_put32(p + 12, d->pair_fail.count);
	memset(p + 16, 0, 4);
	p[16] = d->last_ok_ip.family;
	memcpy(p + 20, d->last_ok_ip.addr, 16);
}

size_t pdb_touch_encode(const struct clientid_device *d, const struct pdb_copy *copy, uint8_t *buf)
{
	size_t alen = d->last_ip.family == 4 ? 4 : 16;
	pdb_put32(buf, d->last_seen);
	pdb_put32(buf + 4, d->successes);
	pdb_put32(buf + 8, d->failures);
	buf[12] = d->last_ip.family;
	buf[13] = (uint8_t)d->last_protocol;
	buf[14] = copy != NULL ? (uint8_t)copy->state : 0;
	buf[15] =
	    (uint8_t)((alen == 4 ? TRACE_ADDR4 : 0) | (copy != NULL ? TRACE_COPY : 0) | TRACE_PAIR);
	memcpy(buf + 16, d->last_ip.addr, alen);
	size_t n = 16 + alen;
	if (copy != NULL) {
		memcpy(buf + n, &copy->version, PDB_VERSION_LEN);
		pdb_put32(buf + n + PDB_VERSION_LEN, copy->seen_day);
		n += PDB_VERSION_LEN + 4;
	}
	trace_pair_encode(d, buf + n);
	return n + TRACE_PAIR_LEN;
}

/* The pair's part; a trace written before schema 3 has none: its last
 * success is taken as its last sighting, as the checks then saw it. */
static int trace_pair_decode(const uint8_t *b, struct clientid_device *d)
{
	memset(&d->last_ok_ip, 0, sizeof(d->last_ok_ip));
	if ((b[15] & TRACE_PAIR) == 0) {
		d->last_verified = d->successes > 0 ? d->last_seen : 0;
		d->last_ok = d->last_verified;
		d->last_ok_ip = d->last_ip;
		d->pair_fail = (struct clientid_window){0, 0};
		return 0;
	}
	const uint8_t *p = b + trace_pair_off(b);
	if (p[16] != 0 && p[16] != 4 && p[16] != 6)
		return CLIENTID_E_STORE_CORRUPT;
	d->last_verified = pdb_get32(p);
	d->last_ok = pdb_get32(p + 4);
	d->pair_fail.start = pdb_get32(p + 8);
	d->pair_fail.count = pdb_get32(p + 12);
	d->last_ok_ip.family = p[16];
	memcpy(d->last_ok_ip.addr, p + 20, 16);
	return 0;
}

int pdb_touch_decode(const void *val, size_t len, struct clientid_device *d)
{
	const uint8_t *b = val;
	if (len < 20 || (b[15] & ~(TRACE_ADDR4 | TRACE_COPY | TRACE_PAIR)) != 0 ||
	    len != trace_pair_off(b) + ((b[15] & TRACE_PAIR) != 0 ? TRACE_PAIR_LEN : 0) ||
	    (b[12] != 0 && b[12] != 4 && b[12] != 6) || b[13] > CLIENTID_PROTO_OTHER ||
	    ((b[15] & TRACE_ADDR4) != 0 && b[12] != 4))
		return CLIENTID_E_STORE_CORRUPT;
	if ((b[15] & TRACE_COPY) != 0 ? b[14] < CLIENTID_DEV_PENDING || b[14] > CLIENTID_DEV_BLOCKED
	                              : b[14] != 0)
		return CLIENTID_E_STORE_CORRUPT;
	d->last_seen = pdb_get32(b);
	d->successes = pdb_get32(b + 4);
	d->failures = pdb_get32(b + 8);
	d->last_ip.family = b[12];
	d->last_protocol = (enum clientid_protocol)b[13];
	memset(d->last_ip.addr, 0, sizeof(d->last_ip.addr));
	memcpy(d->last_ip.addr, b + 16, trace_addr_len(b));
	return trace_pair_decode(b, d);
}

int pdb_touch_copy(const void *val, size_t len, struct pdb_copy *copy)
{
	const uint8_t *b = val;
	struct clientid_device d;
	if (pdb_touch_decode(val, len, &d) != 0 || (b[15] & TRACE_COPY) == 0)
		return 0;
	size_t n = 16 + trace_addr_len(b);
	memcpy(&copy->version, b + n, PDB_VERSION_LEN);
	copy->seen_day = pdb_get32(b + n + PDB_VERSION_LEN);
	copy->state = (enum clientid_device_state)b[14];
	return 1;
}

void pdb_ban_encode(const struct pdb_ban *ban, uint8_t *buf)
{
	memset(buf, 0, PDB_BAN_LEN);
	buf[0] = ban->kind;
	buf[1] = ban->reason;
	pdb_put32(buf + 4, ban->time);
}

int pdb_ban_decode(const void *val, size_t len, struct pdb_ban *ban)
{
	const uint8_t *b = val;
	if (len != PDB_BAN_LEN || (b[0] != PDB_BAN_REVOKED && b[0] != PDB_BAN_BLOCKED))
		return CLIENTID_E_STORE_CORRUPT;
	ban->kind = b[0];
	ban->reason = b[1];
	ban->time = pdb_get32(b + 4);
	return 0;
}

void pdb_policy_encode(const struct clientid_account_policy *p, uint8_t *buf)
{
	memset(buf, 0, PDB_POLICY_LEN);
	buf[0] = p->mode < 0 ? 0xff : (uint8_t)p->mode;
	buf[1] = p->require_clientid < 0 ? 0xff : (uint8_t)p->require_clientid;
	buf[2] = (uint8_t)p->learn_max_devices;
	buf[3] = (uint8_t)(p->learn_max_devices >> 8);
	buf[4] = (uint8_t)p->pending_max_devices;
	buf[5] = (uint8_t)(p->pending_max_devices >> 8);
}

int pdb_policy_decode(const void *val, size_t len, struct clientid_account_policy *p)
{
	const uint8_t *b = val;
	if (len != PDB_POLICY_LEN || (b[0] != 0xff && b[0] > CLIENTID_MODE_ENFORCE) ||
	    (b[1] != 0xff && b[1] > 1))
		return CLIENTID_E_STORE_CORRUPT;
	p->mode = b[0] == 0xff ? -1 : b[0];
	p->require_clientid = b[1] == 0xff ? -1 : b[1];
	p->learn_max_devices = (unsigned)b[2] | (unsigned)b[3] << 8;
	p->pending_max_devices = (unsigned)b[4] | (unsigned)b[5] << 8;
	return 0;
}

/* Event: time, kind, reason, protocol, flags, decision, family, address,
 * [fingerprint when flagged], type length, type, account length, account. */
size_t pdb_event_encode(const struct clientid_event *ev, uint8_t *buf)
{
	size_t n = 0;
	pdb_put32(buf, ev->time);
	n = 4;
	buf[n++] = ev->kind;
	buf[n++] = ev->reason;
	buf[n++] = ev->protocol;
	buf[n++] = ev->flags;
	buf[n++] = ev->decision;
	buf[n++] = ev->ip.family;
	memcpy(buf + n, ev->ip.addr, 16);
	n += 16;
	if ((ev->flags & CLIENTID_EVF_FP) != 0) {
		memcpy(buf + n, ev->fp.b, CLIENTID_FP_LEN);
		n += CLIENTID_FP_LEN;
	}
	size_t tl = strnlen(ev->type, CLIENTID_TYPE_MAX);
	size_t al = strnlen(ev->account, CLIENTID_ACCOUNT_MAX);
	buf[n++] = (uint8_t)tl;
	memcpy(buf + n, ev->type, tl);
	n += tl;
	buf[n++] = (uint8_t)al;
	memcpy(buf + n, ev->account, al);
	return n + al;
}

int pdb_event_decode(const void *val, size_t len, struct clientid_event *ev)
{
	const uint8_t *b = val;
	memset(ev, 0, sizeof(*ev));
	size_t n = 26;
	if (len < n + 2)
		return CLIENTID_E_STORE_CORRUPT;
	ev->time = pdb_get32(b);
	ev->kind = b[4];
	ev->reason = b[5];
	ev->protocol = b[6];
	ev->flags = b[7];
	ev->decision = b[8];
	ev->ip.family = b[9];
	memcpy(ev->ip.addr, b + 10, 16);
	if ((ev->flags & CLIENTID_EVF_FP) != 0) {
		if (len < n + CLIENTID_FP_LEN + 2)
			return CLIENTID_E_STORE_CORRUPT;
		memcpy(ev->fp.b, b + n, CLIENTID_FP_LEN);
		n += CLIENTID_FP_LEN;
	}
	size_t tl = b[n++];
	if (tl > CLIENTID_TYPE_MAX || n + tl + 1 > len)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(ev->type, b + n, tl);
	n += tl;
	size_t al = b[n++];
	if (n + al != len)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(ev->account, b + n, al);
	if (ev->kind == 0 || ev->kind >= CLIENTID_EV_COUNT_)
		return CLIENTID_E_STORE_CORRUPT;
	return 0;
}

size_t pdb_ip_counter_key(const struct clientid_config *cfg, const struct clientid_ip *ip,
                          uint8_t *key)
{
	unsigned bits = ip->family == 4 ? cfg->ip_fail_prefix4 : cfg->ip_fail_prefix6;
	key[0] = 'i';
	key[1] = ip->family;
	memset(key + 2, 0, 16);
	memcpy(key + 2, ip->addr, bits / 8);
	if (bits % 8 != 0)
		key[2 + bits / 8] = (uint8_t)(ip->addr[bits / 8] & (0xff << (8 - bits % 8)));
	return 18;
}
