#!/usr/bin/env python3
"""Reference byte-level BPE for mnemo's tokenizer (src/data/bpe*.c), in plain Python.

The same algorithm as the C code, written the slow, obvious way: the pre-tokenizer of
src/data/bpe.h, training that recounts every pair at every merge (the C code keeps counts
incrementally), and encoding that scans every adjacent pair for the lowest rank at each
step (the C code uses a heap). Ties in training: the highest count, then the smallest pair
of ids (left, then right). Pairs must occur at least twice to be merged.

    python3 tools/bpe_ref.py [OUT_DIR]        (default tests/fixtures/bpe)

writes the fixture tests/test_bpe.c checks against:
    corpus.bin      a few KB of text: ASCII, accented Latin, Greek, Cyrillic, CJK, emoji,
                    non-ASCII spaces and punctuation, and invalid UTF-8 bytes
    pieces.txt      the corpus's pieces, one per line, as hex
    merges.txt      "vocab_size N", then one merge per line: "left right" (ids; merge k
                    makes id 256 + k)
    encodings.txt   one string per line: its bytes as hex, ':', its ids
"""
import os
import random
import sys

SPACE, DIGIT, LETTER, OTHER = 0, 1, 2, 3
SPACE_RANGES = [(0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]
OTHER_RANGES = [(0x80, 0x9F), (0xA1, 0xBF), (0xD7, 0xD7), (0xF7, 0xF7),
                (0x2010, 0x2027), (0x2030, 0x205E), (0x2060, 0x206F), (0x20A0, 0x20CF),
                (0x2100, 0x2BFF), (0x3001, 0x3003), (0x3008, 0x3011), (0xFE10, 0xFE1F),
                (0xFE30, 0xFE4F), (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0x1F000, 0x1FAFF)]


def utf8_len(b, i):
    """Length of the well-formed UTF-8 sequence at b[i] (shortest form, no surrogates,
    at most U+10FFFF), or 0."""
    c = b[i]
    if c < 0x80:
        return 1
    lo, hi = 0x80, 0xBF
    if 0xC2 <= c <= 0xDF:
        n = 2
    elif 0xE0 <= c <= 0xEF:
        n = 3
        if c == 0xE0:
            lo = 0xA0
        if c == 0xED:
            hi = 0x9F
    elif 0xF0 <= c <= 0xF4:
        n = 4
        if c == 0xF0:
            lo = 0x90
        if c == 0xF4:
            hi = 0x8F
    else:
        return 0
    if len(b) - i < n or not lo <= b[i + 1] <= hi:
        return 0
    if any(not 0x80 <= b[i + k] <= 0xBF for k in range(2, n)):
        return 0
    return n


def unit(b, i):
    """(length, class) of the unit at b[i]."""
    c = b[i]
    if c < 0x80:
        if 0x09 <= c <= 0x0D or c == 0x20:
            return 1, SPACE
        if 0x30 <= c <= 0x39:
            return 1, DIGIT
        if 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A:
            return 1, LETTER
        return 1, OTHER
    n = utf8_len(b, i)
    if n == 0:
        return 1, OTHER
    cp = ord(b[i:i + n].decode("utf-8"))
    if any(lo <= cp <= hi for lo, hi in SPACE_RANGES):
        return n, SPACE
    if any(lo <= cp <= hi for lo, hi in OTHER_RANGES):
        return n, OTHER
    return n, LETTER


def pretokenize(b):
    """The pieces of b (bytes), by the rule written out in src/data/bpe.h."""
    units = []  # (start, length, class)
    i = 0
    while i < len(b):
        n, c = unit(b, i)
        units.append((i, n, c))
        i += n
    pieces, k = [], 0
    while k < len(units):
        start, _, c = units[k]
        if c == SPACE:
            if b[start] == 0x20 and k + 1 < len(units) and units[k + 1][2] != SPACE:
                cls, j = units[k + 1][2], k + 1      # " word": the space leads the run
            else:
                j = k
                while j < len(units) and units[j][2] == SPACE:
                    j += 1
                # the run's last unit goes to the next piece when it is 0x20 before a
                # non-space and the run has more than one unit
                if j < len(units) and j - k >= 2 and b[units[j - 1][0]] == 0x20 \
                        and units[j - 1][1] == 1:
                    j -= 1
                end = units[j][0] if j < len(units) else len(b)
                pieces.append(b[start:end])
                k = j
                continue
        else:
            cls, j = c, k
        while j < len(units) and units[j][2] == cls:
            j += 1
        end = units[j][0] if j < len(units) else len(b)
        pieces.append(b[start:end])
        k = j
    assert b"".join(pieces) == b
    return pieces


def train(text, vocab_size):
    """Merges [(left, right)] in order; merge k makes id 256 + k."""
    freq = {}
    for p in pretokenize(text):
        freq[p] = freq.get(p, 0) + 1
    words = [(list(p), f) for p, f in freq.items()]
    merges = []
    while 256 + len(merges) < vocab_size:
        counts = {}
        for syms, f in words:
            for a, b in zip(syms, syms[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + f
        best = min(((-c, a, b) for (a, b), c in counts.items() if c >= 2), default=None)
        if best is None:
            break
        _, a, b = best
        new = 256 + len(merges)
        merges.append((a, b))
        for syms, _ in words:
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms[:] = out
    return merges


def encode(text, merges):
    """Ids of text: per piece, merge the adjacent pair of lowest rank (leftmost of equal
    ranks) until no pair has a rank."""
    rank = {pair: k for k, pair in enumerate(merges)}
    ids = []
    for p in pretokenize(text):
        syms = list(p)
        while len(syms) > 1:
            best = min(((rank[(syms[i], syms[i + 1])], i) for i in range(len(syms) - 1)
                        if (syms[i], syms[i + 1]) in rank), default=None)
            if best is None:
                break
            r, i = best
            syms[i:i + 2] = [256 + r]
        ids.extend(syms)
    return ids


def make_corpus(seed=13, size=6000):
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "mat", "and", "then", "there", "these", "other",
             "learning", "long", "range", "dependencies", "sequence", "model", "token",
             "café", "naïve", "über", "Straße", "λόγος", "αλφα", "βήτα", "слово", "привет",
             "日本語", "東京", "한국어", "שלום", "مرحبا", "🙂", "🚀🚀", "x²", "Ωmega"]
    seps = [" ", " ", " ", " ", "  ", "\n", "\t", ", ", ". ", "; ", " — ", "\u00a0",
            "\u3000", " «", "» ", " (", ") ", "!", "?", "\r\n", "   ", " \n", "…"]
    numbers = ["0", "1", "42", "2024", "3.14", "1,000", "007"]
    invalid = [b"\xff", b"\xfe\xfe", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80",
               b"\xf4\x90\x80\x80", b"\xe2\x82"]
    out = bytearray()
    while len(out) < size:
        r = rng.random()
        if r < 0.72:
            out += rng.choice(words).encode()
        elif r < 0.8:
            out += rng.choice(numbers).encode()
        elif r < 0.84:
            out += rng.choice(invalid)
        out += rng.choice(seps).encode()
    return bytes(out)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "bpe")
    os.makedirs(out_dir, exist_ok=True)
    corpus = make_corpus()
    vocab_size = 256 + 300
    merges = train(corpus, vocab_size)
    probes = [b"", b"the cat sat on the mat", b"  the   cat\n\n  sat  ", b"caf\xc3\xa9 na\xc3\xafve",
              b"\xff\xfe\xc3(\xc3\xa9)\xed\xa0\x80", b"2024 1,000 3.14 007x",
              "日本語 東京　λόγος слово 🙂🚀".encode(), b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              b"dependencies of long-range sequence models", b"\t\r\n \x00\x01\x7f",
              b" learning learninglearning", corpus[:400]]
    with open(os.path.join(out_dir, "corpus.bin"), "wb") as f:
        f.write(corpus)
    with open(os.path.join(out_dir, "pieces.txt"), "w") as f:
        for p in pretokenize(corpus):
            f.write(p.hex() + "\n")
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write("vocab_size %d\n" % vocab_size)
        for a, b in merges:
            f.write("%d %d\n" % (a, b))
    with open(os.path.join(out_dir, "encodings.txt"), "w") as f:
        for p in probes:
            f.write(p.hex() + ":" + " ".join(str(i) for i in encode(p, merges)) + "\n")
    print("bpe_ref: %d bytes of corpus, %d pieces, %d merges, %d encodings -> %s"
          % (len(corpus), len(pretokenize(corpus)), len(merges), len(probes), out_dir))


if __name__ == "__main__":
    main()
