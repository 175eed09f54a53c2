#!/usr/bin/env python3
"""Seeds of the bpe harness (fuzz/fuzz_bpe.c), written to fuzz/corpus/bpe/ by
fuzz/make_corpus.sh. The first byte of a seed chooses what the rest is: even, text; odd,
a tokenizer.json. ok-* seeds must be accepted, bad-* ones refused (MN_E_INPUT).
    python3 fuzz/make_corpus_bpe.py OUT_DIR"""
import json
import os
import sys


def bytes_to_unicode():
    """GPT-2's table: byte -> the character that stands for it."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def tok(b):
    return "".join(B2U[x] for x in b)


def tokenizer(merges, pairs=False, vocab_edit=None, model_type="BPE", pre="ByteLevel"):
    """A tokenizer.json: the 256 bytes, then each merge's result, in merge order."""
    vocab = {tok(bytes([b])): b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(tok(a + b), len(vocab))
    if vocab_edit:
        vocab_edit(vocab)
    ms = [[tok(a), tok(b)] if pairs else tok(a) + " " + tok(b) for a, b in merges]
    d = {"version": "1.0", "added_tokens": [], "normalizer": None,
         "pre_tokenizer": {"type": pre, "add_prefix_space": False},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": model_type, "dropout": None, "vocab": vocab, "merges": ms}}
    return json.dumps(d, ensure_ascii=False).encode()


def drop(v, key):
    """Removes a token and gives its id to the last token, so the ids stay dense."""
    i = v.pop(key)
    last = max(v, key=v.get)
    if v[last] > i:
        v[last] = i


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    merges = [(b"t", b"h"), (b"th", b"e"), (b" ", b"the"), (b"c", b"a"), (b"ca", b"t"),
              (b"\xc3", b"\xa9"), (b"\xff", b"\xff")]
    seeds = {
        "ok-text-ascii": b"\x00the cat sat on the mat; the cat ate the rat",
        "ok-text-empty": b"\x00",
        "ok-text-mixed": b"\x40caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xff\xfe\xc3("
                         b"\xed\xa0\x80 \xf0\x9f\x99\x82  \t\n\n  42 1,000 \xe3\x80\x80x",
        "ok-text-long-run": b"\x10" + b"a" * 600 + b" " * 300 + b"\xe2\x80\x94" * 50,
        "ok-json-strings": b"\x01" + tokenizer(merges),
        "ok-json-pairs": b"\x01" + tokenizer(merges, pairs=True),
        "ok-json-no-merges": b"\x01" + tokenizer([]),
        "bad-json-not-json": b"\x01{\"model\": ",
        "bad-json-no-model": b"\x01{\"version\": \"1.0\"}",
        "bad-json-wordpiece": b"\x01" + tokenizer(merges, model_type="WordPiece"),
        "bad-json-metaspace": b"\x01" + tokenizer(merges, pre="Metaspace"),
        "bad-json-unknown-merge-token": b"\x01" + tokenizer(merges + [(b"xy", b"z")]),
        "bad-json-repeated-merge": b"\x01" + tokenizer(merges + [(b"t", b"h")]),
        "bad-json-missing-byte": b"\x01" + tokenizer(
            merges, vocab_edit=lambda v: v.update({"QQ": v.pop(tok(b"Q"))})),
        "bad-json-duplicate-id": b"\x01" + tokenizer(
            merges, vocab_edit=lambda v: v.update({tok(b"a"): 98})),
        "bad-json-not-dense": b"\x01" + tokenizer(
            merges, vocab_edit=lambda v: v.update({tok(b"a"): 100000})),
        "bad-json-result-missing": b"\x01" + tokenizer(
            merges, vocab_edit=lambda v: drop(v, tok(b"the"))),
        "bad-json-space-in-token": b"\x01" + tokenizer(
            merges, vocab_edit=lambda v: v.update({"a b": len(v)})),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
