#!/usr/bin/env python3
"""Seeds for fuzz_fasta, fuzz_idx and fuzz_text (fuzz/corpus/fasta, idx, text): the first
byte holds the options the harness reads (fasta: bit 0 labels, bits 1-2 window, bit 3
validation fraction; idx: bit 0 the input is the labels file, bit 1 permute; text: bits 0-2
window, bit 3 fraction, bit 4 two files split at the second byte, bit 5 tokenizer). ok-* seeds
must be accepted, bad-* refused; gz-* are read through zlib or refused, by build.
    python3 fuzz/make_corpus_data.py fuzz/corpus"""
import gzip, os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"


def put(kind, name, data):
    os.makedirs(os.path.join(out, kind), exist_ok=True)
    with open(os.path.join(out, kind, name), "wb") as f:
        f.write(data)


put("fasta", "ok-nucleotide", b"\x00>a one\nACGTACGTAC\nacgtN\n\n>b\r\nGGGTTTAAACCC\r\n")
put("fasta", "ok-protein", b"\x0a>p\nMKVLAAGIVGLLLAQEWY\n>q\nmkkl*-x\n")
put("fasta", "ok-labels", b"\x01>a\nACGT\n>b\nGG\n>c\nTTA\n\x00x\ny\r\nx\n")
put("fasta", "ok-labels-numeric", b"\x09>a\nACGT\n>b\nGG\n>c\nTTA\n>d\nA\n\x003\n0\n3\n1\n")
put("fasta", "bad-before-header", b"\x00ACGT\n>a\nAC\n")
put("fasta", "bad-byte", b"\x00>a\nAC1T\n")
put("fasta", "bad-empty-record", b"\x00>a\n>b\nACGT\n")
put("fasta", "bad-last-record-empty", b"\x00>a\nACGT\n>b\n")
put("fasta", "bad-label-count", b"\x01>a\nACGT\n>b\nGG\n\x00x\n")
put("fasta", "bad-no-record", b"\x00\n\n")

def idx(magic_ndim, dims, body):
    return bytes([0, 0, 8, magic_ndim]) + b"".join(struct.pack(">I", d) for d in dims) + body

images = idx(3, [3, 2, 2], bytes([0, 7, 200, 255, 9, 8, 7, 6, 1, 2, 3, 4]))
put("idx", "ok-images", b"\x00" + images)
put("idx", "ok-permute", b"\x02" + images)
put("idx", "ok-labels", b"\x01" + idx(1, [3], bytes([0, 1, 2])))
put("idx", "ok-images-5x1", b"\x04" + idx(3, [3, 5, 1], bytes(range(15))))
put("idx", "gz-images", b"\x00" + gzip.compress(images, mtime=0))
put("idx", "bad-magic", b"\x00" + b"\x00\x00\x09\x03" + images[4:])
put("idx", "bad-truncated", b"\x00" + images[:-1])
put("idx", "bad-too-long", b"\x00" + images + b"\x00")
put("idx", "bad-count", b"\x01" + idx(1, [2], bytes([0, 1])))
put("idx", "bad-labels-dims", b"\x01" + idx(2, [3, 1], bytes([0, 1, 2])))
put("idx", "bad-images-dims", b"\x00" + idx(2, [3, 4], bytes(12)))
put("idx", "bad-header-cut", b"\x00" + images[:9])
put("idx", "bad-gz-cut", b"\x00" + gzip.compress(images, mtime=0)[:-12])

text = "It was the best of times, it was the worst of times; caf\u00e9 \u2014 1999.\n".encode()
put("text", "ok-bytes", b"\x03\x00" + text * 3)
put("text", "ok-tokens", b"\x23\x00" + text * 3)
put("text", "ok-two-files-tokens", b"\x31\x80" + text * 4)
put("text", "ok-invalid-utf8", b"\x22\x00" + bytes(range(256)))
put("text", "bad-too-short", b"\x07\x00abc")
put("text", "bad-empty-valid", b"\x10\xff" + text)
