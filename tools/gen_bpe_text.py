#!/usr/bin/env python3
"""A large synthetic text for timing BPE training (mnemo tokenize train):

    python3 tools/gen_bpe_text.py OUT.txt [MEGABYTES=20] [SEED=1]

Words of a made-up language (syllables, some accented or Greek/Cyrillic/CJK), drawn with
Zipf-like frequencies from a lexicon of 60000, in sentences with punctuation, numbers and
line breaks: a distribution of pieces like natural text's, which is what the training time
depends on."""
import random
import sys

def main():
    out = sys.argv[1]
    mb = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    syl = ["ka", "to", "ri", "me", "sa", "lu", "ne", "po", "di", "ga", "ver", "str", "an",
           "el", "ou", "ch", "th", "qu", "é", "ü", "ñ", "λο", "γα", "ст", "ов", "日", "本"]
    lexicon = ["".join(rng.choice(syl) for _ in range(rng.randint(1, 4)))
               for _ in range(60000)]
    weights = [1.0 / (r + 1) for r in range(len(lexicon))]
    target = int(mb * 1e6)
    parts, size = [], 0
    while size < target:
        words = rng.choices(lexicon, weights, k=4096)
        buf = []
        for i, w in enumerate(words):
            if i % 11 == 0:
                w = w.capitalize()
            buf.append(w)
            r = rng.random()
            if r < 0.06:
                buf.append(", ")
            elif r < 0.09:
                buf.append(". ")
            elif r < 0.1:
                buf.append(" %d " % rng.randint(0, 3000))
            elif r < 0.11:
                buf.append(".\n")
            else:
                buf.append(" ")
        s = "".join(buf).encode()
        parts.append(s)
        size += len(s)
    with open(out, "wb") as f:
        f.write(b"".join(parts)[:target])

if __name__ == "__main__":
    main()
