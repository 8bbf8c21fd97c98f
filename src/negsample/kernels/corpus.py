"""Corpus preparation kernels (numba only, allocation-free): UTF-8 decoding with replacement,
whitespace tokenising, counting in an open-addressing hash table, encoding to ids, pruning.

Tokens are exactly ``raw_line.decode("utf-8", errors="replace").split()``:
- lines end at b"\\n" (binary-mode iteration; the last line may lack it);
- UTF-8 is decoded with Python's replacement rule: every *maximal subpart* of an ill-formed
  sequence becomes one U+FFFD (a lead byte followed by the longest valid prefix of its
  continuation; bytes 80-BF, C0, C1, F5-FF alone). The token's bytes are the UTF-8 encoding of the
  decoded text (EF BF BD for each replacement), so a token is always valid UTF-8;
- the separators are the code points for which ``str.isspace()`` is true (ASCII 09-0D, 1C-20 and
  U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000).
Decoding restarts cleanly at every ASCII byte (an ill-formed sequence never swallows one), so a
buffer may be cut after any ASCII whitespace byte and scanned in pieces.

The table (one pass over the bytes, few cache lines per token):
  ``slots``  int64, power-of-two size, linear probing: -1 empty, else (tag << 32) | w, tag = the
             top 31 bits of the token's FNV-1a hash, w = the record's word offset in the arena;
  ``a64``    int64 arena of records (``a8`` is the same memory as bytes): a64[w] = count,
             a64[w+1] = (byte length << 32) | id, then the token's bytes from byte 8 (w + 2);
  ``rec``    int64 (id -> w): records in order of first appearance (the provisional ids).
The tokens are scanned in batches of up to ``bst.shape[0]``: tokenise the batch, touch the slots
and records it will need (independent loads that overlap their cache misses), then resolve the
tokens in order.

``scan_core`` runs in one of three modes:
  MODE_COUNT_ENCODE  count every token and emit its provisional id (one pass);
  MODE_COUNT         count only (after the table was pruned the provisional ids are void);
  MODE_LOOKUP        frozen table whose records carry final ids (``set_ids_core``; NO_ID for
                     out-of-vocabulary words): emit the final ids, drop the others.
It emits, per line with at least one emitted id, that line's number of emitted ids
(``out_lens``). It stops with a status code whenever the caller must act (flush a full output
buffer, grow the table / arena / token scratch, prune), with ``state[POS]`` at a point from
which the call can simply be repeated, so the kernel never allocates.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .corpus_layout import (ARENA_USED, BAD_LINES, DONE, FLUSH_IDS, FLUSH_LENS, GROW_ARENA,  # noqa: F401
                            GROW_TABLE, GROW_TOKEN, LINE_BAD, LINE_OPEN, LINE_TOKENS, LINES, MAX_ENT,
                            MODE, MODE_COUNT, MODE_COUNT_ENCODE, MODE_LOOKUP, N_ENT, N_LENS, N_OUT,
                            N_STATE, NO_ID, POS, PRUNE, TOKENS, BATCH)

_ASCII_WS = np.zeros(128, dtype=np.uint8)
for _b in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32):
    _ASCII_WS[_b] = 1

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(nogil=True, cache=True, inline="always")
def _is_unicode_space(cp):
    """str.isspace() for a non-ASCII code point."""
    if cp < 0x2000:
        return cp == 0x85 or cp == 0xA0 or cp == 0x1680
    if cp <= 0x200A:
        return True
    return cp == 0x2028 or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000


@njit(nogil=True, cache=True, inline="always")
def _cont(buf, q, n):
    return q < n and (buf[q] & 0xC0) == 0x80


@njit(nogil=True, cache=True, inline="always")
def _decode(buf, p, n):
    """Decode the character at buf[p] (>= 0x80). Returns (bytes consumed >= 1, code point), the
    code point -1 for one replaced maximal subpart of an ill-formed sequence."""
    b0 = np.int64(buf[p])
    if b0 < 0xC2 or b0 > 0xF4:
        return 1, -1
    if b0 < 0xE0:
        if _cont(buf, p + 1, n):
            return 2, ((b0 & 0x1F) << 6) | (np.int64(buf[p + 1]) & 0x3F)
        return 1, -1
    if p + 1 >= n:
        return 1, -1
    b1 = np.int64(buf[p + 1])
    if b0 < 0xF0:
        lo = 0xA0 if b0 == 0xE0 else 0x80
        hi = 0x9F if b0 == 0xED else 0xBF
        if b1 < lo or b1 > hi:
            return 1, -1
        if not _cont(buf, p + 2, n):
            return 2, -1
        return 3, ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (np.int64(buf[p + 2]) & 0x3F)
    lo = 0x90 if b0 == 0xF0 else 0x80
    hi = 0x8F if b0 == 0xF4 else 0xBF
    if b1 < lo or b1 > hi:
        return 1, -1
    if not _cont(buf, p + 2, n):
        return 2, -1
    if not _cont(buf, p + 3, n):
        return 3, -1
    return 4, (((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((np.int64(buf[p + 2]) & 0x3F) << 6)
               | (np.int64(buf[p + 3]) & 0x3F))


@njit(nogil=True, cache=True, inline="always")
def _slot(h, mask):
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@njit(nogil=True, cache=True, inline="always")
def _tag(h):
    return np.int64(h >> np.uint64(33))


@njit(nogil=True, cache=True, inline="always")
def _words(length):
    """Arena words of a record holding ``length`` bytes."""
    return 2 + (length + 7) // 8


@njit(nogil=True, cache=True, inline="always")
def _same(a8, off, src, start, length):
    for j in range(length):
        if a8[off + j] != src[start + j]:
            return False
    return True


@njit(nogil=True, cache=True, error_model="numpy")
def scan_core(buf, n, final, state, slots, a64, a8, rec, tok, out_ids, out_lens, bst, blen, bh):
    """Tokenise buf[state[POS]:n] (see the module docstring); ``final`` = 1 when n is the end of
    a file (a truncated sequence there is ill-formed and the open line is finished). Unless
    final, buf[n-1] must be ASCII whitespace. bst, blen (int64) and bh (uint64) of one size B
    are the batch scratch. Returns a status code; state is updated."""
    p = state[POS]
    line_tokens = state[LINE_TOKENS]
    line_bad = state[LINE_BAD]
    line_open = state[LINE_OPEN]
    lines = state[LINES]
    bad_lines = state[BAD_LINES]
    tokens = state[TOKENS]
    n_ent = state[N_ENT]
    used = state[ARENA_USED]
    n_out = state[N_OUT]
    n_lens = state[N_LENS]
    max_ent = state[MAX_ENT]
    mode = state[MODE]
    emit = mode != MODE_COUNT
    insert = mode != MODE_LOOKUP
    mask = slots.shape[0] - 1
    out_cap = out_ids.shape[0]
    lens_cap = out_lens.shape[0]
    tok_cap = tok.shape[0]
    B = bst.shape[0]
    status = DONE
    while status == DONE:
        # ---- phase A: tokenise up to B events (tokens; newlines have blen = -1). A token with
        # an ill-formed sequence (bytes in tok, blen = -2 - length) ends the batch.
        nb = 0
        while p < n and nb < B:
            b = buf[p]
            if b == 10:
                bst[nb] = p
                blen[nb] = -1
                nb += 1
                p += 1
                line_open = 0
                continue
            line_open = 1
            if b < 128:
                if _ASCII_WS[b]:
                    p += 1
                    continue
            else:
                k, cp = _decode(buf, p, n)
                if cp >= 0 and _is_unicode_space(cp):
                    p += k
                    continue
            start = p
            h = _FNV_OFFSET
            clean = True
            tlen = 0
            grow_tok = False
            while p < n:
                b = buf[p]
                if b < 128:
                    if _ASCII_WS[b]:
                        break
                    h = (h ^ np.uint64(b)) * _FNV_PRIME
                    if not clean:
                        if tlen >= tok_cap:
                            grow_tok = True
                            break
                        tok[tlen] = b
                    tlen += 1
                    p += 1
                    continue
                k, cp = _decode(buf, p, n)
                if cp >= 0:
                    if _is_unicode_space(cp):
                        break
                    if not clean and tlen + k > tok_cap:
                        grow_tok = True
                        break
                    for j in range(k):
                        c = buf[p + j]
                        h = (h ^ np.uint64(c)) * _FNV_PRIME
                        if not clean:
                            tok[tlen + j] = c
                    tlen += k
                else:
                    if tlen + 3 > tok_cap:
                        grow_tok = True
                        break
                    if clean:                         # switch to the scratch copy
                        for j in range(tlen):
                            tok[j] = buf[start + j]
                        clean = False
                    tok[tlen] = 0xEF
                    tok[tlen + 1] = 0xBF
                    tok[tlen + 2] = 0xBD
                    h = (h ^ np.uint64(0xEF)) * _FNV_PRIME
                    h = (h ^ np.uint64(0xBF)) * _FNV_PRIME
                    h = (h ^ np.uint64(0xBD)) * _FNV_PRIME
                    tlen += 3
                p += k
            if grow_tok:
                p = start
                if nb == 0:
                    status = GROW_TOKEN
                break
            bst[nb] = start
            bh[nb] = h
            if clean:
                blen[nb] = tlen
                nb += 1
            else:
                blen[nb] = -2 - tlen
                nb += 1
                break
        if nb == 0:
            break
        # ---- phase B: touch the slots and the records the batch will read
        touch = 0
        for q in range(nb):
            if blen[q] != -1:
                s = slots[_slot(bh[q], mask)]
                if s >= 0:
                    touch += a64[s & 0xFFFFFFFF]
        # ---- phase C: resolve the events in order
        for q in range(nb):
            ln = blen[q]
            if ln == -1:                              # end of line
                if emit and line_tokens > 0:
                    if n_lens >= lens_cap:
                        status = FLUSH_LENS
                        p = bst[q]
                        break
                    out_lens[n_lens] = line_tokens
                    n_lens += 1
                lines += 1
                bad_lines += line_bad
                line_tokens = 0
                line_bad = 0
                continue
            start = bst[q]
            h = bh[q]
            clean = ln >= 0
            tlen = ln if clean else -2 - ln
            if emit and n_out >= out_cap:
                status = FLUSH_IDS
                p = start
                line_open = 1
                break
            i = _slot(h, mask)
            tag = _tag(h)
            w = -1
            while True:
                s = slots[i]
                if s < 0:
                    break
                if (s >> 32) == tag:
                    ws = s & 0xFFFFFFFF
                    if (a64[ws + 1] >> 32) == tlen:
                        if clean:
                            same = _same(a8, 8 * (ws + 2), buf, start, tlen)
                        else:
                            same = _same(a8, 8 * (ws + 2), tok, 0, tlen)
                        if same:
                            w = ws
                            break
                i = (i + 1) & mask
            if w < 0 and insert:
                if max_ent > 0 and n_ent >= max_ent:
                    status = PRUNE
                elif n_ent >= rec.shape[0] or 2 * (n_ent + 1) > slots.shape[0]:
                    status = GROW_TABLE
                elif used + _words(tlen) > a64.shape[0]:
                    status = GROW_ARENA
                if status != DONE:
                    p = start
                    line_open = 1
                    break
                w = used
                a64[w] = 0
                a64[w + 1] = (tlen << 32) | n_ent
                a64[w + 2 + (tlen - 1) // 8] = 0          # zero the padding of the last word
                off = 8 * (w + 2)
                if clean:
                    for j in range(tlen):
                        a8[off + j] = buf[start + j]
                else:
                    for j in range(tlen):
                        a8[off + j] = tok[j]
                slots[i] = (tag << 32) | w
                rec[n_ent] = w
                n_ent += 1
                used += _words(tlen)
            tokens += 1
            if not clean:
                line_bad = 1
            if w < 0:
                continue
            e = a64[w + 1] & 0xFFFFFFFF
            if insert:
                a64[w] += 1
            elif e == NO_ID:
                continue
            line_tokens += 1
            if emit:
                out_ids[n_out] = e
                n_out += 1
        if touch == -1:                               # never: keeps the touches alive
            status = -1
    if status == DONE and final and line_open:       # the last line has no newline
        if emit and line_tokens > 0 and n_lens >= lens_cap:
            status = FLUSH_LENS
        else:
            if emit and line_tokens > 0:
                out_lens[n_lens] = line_tokens
                n_lens += 1
            lines += 1
            bad_lines += line_bad
            line_tokens = 0
            line_bad = 0
            line_open = 0
    state[POS] = p
    state[LINE_TOKENS] = line_tokens
    state[LINE_BAD] = line_bad
    state[LINE_OPEN] = line_open
    state[LINES] = lines
    state[BAD_LINES] = bad_lines
    state[TOKENS] = tokens
    state[N_ENT] = n_ent
    state[ARENA_USED] = used
    state[N_OUT] = n_out
    state[N_LENS] = n_lens
    return status


@njit(nogil=True, cache=True, error_model="numpy")
def last_break(buf, n):
    """1 + the position of the last ASCII whitespace byte in buf[:n] (0 if there is none): a
    safe point to cut the buffer (decoding restarts cleanly after it)."""
    for p in range(n - 1, -1, -1):
        b = buf[p]
        if b < 128 and _ASCII_WS[b]:
            return p + 1
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def rehash_core(slots, a64, a8, rec, n_ent):
    """Rebuild the slots (any power-of-two size > n_ent) from the records (hashes recomputed)."""
    mask = slots.shape[0] - 1
    for i in range(slots.shape[0]):
        slots[i] = -1
    for e in range(n_ent):
        w = rec[e]
        ln = a64[w + 1] >> 32
        off = 8 * (w + 2)
        h = _FNV_OFFSET
        for j in range(ln):
            h = (h ^ np.uint64(a8[off + j])) * _FNV_PRIME
        i = _slot(h, mask)
        while slots[i] >= 0:
            i = (i + 1) & mask
        slots[i] = (_tag(h) << 32) | w
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def prune_core(min_reduce, state, slots, a64, a8, rec):
    """The C tool's ReduceVocab: drop the records with count <= min_reduce, compact the arena
    (order kept, ids renumbered densely) and rebuild the slots. Returns the number of token
    occurrences whose counts were dropped."""
    n_ent = state[N_ENT]
    j = 0
    used = 0
    dropped = 0
    for e in range(n_ent):
        w = rec[e]
        c = a64[w]
        if c <= min_reduce:
            dropped += c
            continue
        ln = a64[w + 1] >> 32
        size = _words(ln)
        if w != used:
            for x in range(size):
                a64[used + x] = a64[w + x]
        a64[used + 1] = (ln << 32) | j
        rec[j] = used
        used += size
        j += 1
    state[N_ENT] = j
    state[ARENA_USED] = used
    rehash_core(slots, a64, a8, rec, j)
    return dropped


@njit(nogil=True, cache=True, error_model="numpy")
def counts_core(a64, rec, n_ent, counts, lengths):
    """counts[e] and byte lengths[e] of the records 0..n_ent-1."""
    for e in range(n_ent):
        w = rec[e]
        counts[e] = a64[w]
        lengths[e] = a64[w + 1] >> 32
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def gather_core(a8, a64, rec, entries, out):
    """Concatenate the bytes of records ``entries`` into ``out``; returns the bytes written."""
    o = 0
    for q in range(entries.shape[0]):
        w = rec[entries[q]]
        ln = a64[w + 1] >> 32
        off = 8 * (w + 2)
        for j in range(ln):
            out[o + j] = a8[off + j]
        o += ln
    return o


@njit(nogil=True, cache=True, error_model="numpy")
def set_ids_core(a64, rec, n_ent, to_final):
    """Write final ids into the records (to_final[e] < 0: NO_ID) for MODE_LOOKUP."""
    for e in range(n_ent):
        w = rec[e]
        f = to_final[e]
        a64[w + 1] = ((a64[w + 1] >> 32) << 32) | (f if f >= 0 else NO_ID)
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def remap_core(ids, n, lens, n_lens, to_final, rstate, offsets):
    """Second half of the one-pass encoding: map provisional ids[:n] through ``to_final`` (-1:
    out of vocabulary, dropped), compacting them in place at the front of ``ids``; ``lens``
    (n_lens,) are the lines' token counts in the provisional stream. Each line that keeps at
    least one id appends its end to ``offsets``. ``rstate``: [line, position in line, ids kept
    in line, ids kept in finished lines, offsets used]; ids may be fed in any pieces. Returns
    the number of ids kept from this piece."""
    li = rstate[0]
    lp = rstate[1]
    lk = rstate[2]
    total = rstate[3]
    noff = rstate[4]
    w = 0
    for r in range(n):
        f = to_final[ids[r]]
        if f >= 0:
            ids[w] = f
            w += 1
            lk += 1
        lp += 1
        if li < n_lens and lp == lens[li]:
            if lk > 0:
                total += lk
                offsets[noff] = total
                noff += 1
            li += 1
            lp = 0
            lk = 0
    rstate[0] = li
    rstate[1] = lp
    rstate[2] = lk
    rstate[3] = total
    rstate[4] = noff
    return w
