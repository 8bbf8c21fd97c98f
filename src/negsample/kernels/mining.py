"""Hard-negative mining kernels (numba only), on the noise core.

Filters: every candidate passes the noise core's ``reject_reason`` (query q's known-positive row,
the time window against the query's time, the query's label) before the band rules.
- ``select_candidates``: walk each query's retrieved candidates (best first) and keep the first
  ``negative`` that pass the filters, the near-duplicate ceiling, the rank range, the band and the
  margins. Retrieved candidates are not redrawn: a rejected one is just skipped and counted.
- ``easy_negatives``: draw candidates from the noise (alias table over the corpus) through
  ``filtered_draw`` (rejected draws redrawn, then dropped) and keep those far enough below the
  positive (s_n <= s_p - margin), at most ``max_draws`` draws per query.
``removed`` counts [near_duplicate, rank_range, band, margin]; ``counts`` is the core's
(rejected, redrawn, dropped, by reason self/known/time/label).
"""
from __future__ import annotations

from numba import njit

from .noise import filtered_draw, reject_reason, stream_state

BAND_CODES = {"hard": 0, "semi-hard": 1, "easy": 2, "range": 3}


@njit(nogil=True, cache=True)
def select_candidates(cand_ids, cand_scores, pos_scores, filt, q_times, q_labels, negative, band, band_margin,
                      abs_margin, rel_margin, use_abs, use_rel, rank_lo, rank_hi, max_score, use_max,
                      out_ids, out_scores, removed, counts):
    nq, n = cand_ids.shape
    for q in range(nq):
        at = q_times[q] if q_times.shape[0] > 0 else 0.0
        al = q_labels[q] if q_labels.shape[0] > 0 else -1
        sp = pos_scores[q]
        found = 0
        for r in range(n):
            if found == negative:
                break
            c = cand_ids[q, r]
            if c < 0:
                continue
            s = cand_scores[q, r]
            reason = reject_reason(c, q, -1, filt, at, al)
            if reason != 0:
                counts[0] += 1
                counts[2 + reason] += 1
                continue
            if use_max and s >= max_score:
                removed[0] += 1
                continue
            if r < rank_lo or r >= rank_hi:
                removed[1] += 1
                continue
            if band == 0 and not (s >= sp):
                removed[2] += 1
                continue
            if band == 1 and not (sp - band_margin < s and s < sp):
                removed[2] += 1
                continue
            if (use_abs and not (s <= sp - abs_margin)) or (use_rel and not (s <= sp - abs(sp) * rel_margin)):
                removed[3] += 1
                continue
            out_ids[q, found] = c
            out_scores[q, found] = s
            found += 1


@njit(nogil=True, cache=True)
def easy_negatives(Q, C, pos_scores, prob, alias, filt, q_times, q_labels, negative, margin, max_draws, seed,
                   out_ids, out_scores, removed, counts):
    nq, d = Q.shape
    for q in range(nq):
        state = stream_state(seed, q)
        at = q_times[q] if q_times.shape[0] > 0 else 0.0
        al = q_labels[q] if q_labels.shape[0] > 0 else -1
        found = 0
        draws = 0
        while found < negative and draws < max_draws:
            draws += 1
            state, c = filtered_draw(state, prob, alias, filt, q, -1, at, al, counts)
            if c < 0:
                continue
            dup = False
            for j in range(found):
                if out_ids[q, j] == c:
                    dup = True
            if dup:
                continue
            s = 0.0
            for x in range(d):
                s += Q[q, x] * C[c, x]
            if not (s <= pos_scores[q] - margin):
                removed[2] += 1
                continue
            out_ids[q, found] = c
            out_scores[q, found] = s
            found += 1
