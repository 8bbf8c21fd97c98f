"""Constants of the corpus kernels (state fields, modes, status codes), without numba, so a
process that runs the native library imports them without loading numba. See
``negsample.kernels.corpus``."""

# state fields (an int64 array of N_STATE entries)
POS = 0          # next byte of buf to scan
LINE_TOKENS = 1  # ids emitted for the current line (MODE_COUNT: tokens seen)
LINE_BAD = 2     # current line had an ill-formed UTF-8 sequence
LINE_OPEN = 3    # current line has at least one byte
LINES = 4        # lines finished
BAD_LINES = 5    # lines finished that had ill-formed UTF-8
TOKENS = 6       # raw tokens (all of them, whatever the mode)
N_ENT = 7        # entries in the table
ARENA_USED = 8   # int64 words used in the arena
N_OUT = 9        # ids in out_ids
N_LENS = 10      # entries in out_lens
MAX_ENT = 11     # pruning limit on N_ENT (0: none)
MODE = 12
N_STATE = 16

MODE_COUNT_ENCODE = 0
MODE_COUNT = 1
MODE_LOOKUP = 2

# status codes
DONE = 0
GROW_TABLE = 1   # entries or slots full: grow (and rehash)
GROW_ARENA = 2
FLUSH_IDS = 3
FLUSH_LENS = 4
PRUNE = 5        # N_ENT reached MAX_ENT
GROW_TOKEN = 6   # the token scratch is too small for a token with replacements

NO_ID = 0xFFFFFFFF     # id field of a record that is not in the final vocabulary
BATCH = 16             # tokens per batch of the scan
N_REMAP_STATE = 5
