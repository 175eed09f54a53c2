/* fasta:FILE[,FILE...] — nucleotide or protein sequences. The files (then the validation
 * files) are read into one buffer sized once from their stat sizes and parsed in place:
 * each record becomes a separator token followed by its residues' token ids, written over
 * the bytes already read (a record's ids never outnumber its bytes), so the corpus is held
 * once. Language modelling reads that buffer as a token stream (task_stream.c); with a
 * label file the records become padded sequences for mn_task_from_arrays instead.
 *
 * Lines: '>' starts a header (the rest of the line is ignored); sequence lines hold
 * letters in either case (folded to upper), '*' and '-'; spaces, tabs and '\r' (CRLF) are
 * skipped, blank lines too. The alphabet is detected on the training files: nucleotide
 * when they use only A C G T N U and the IUPAC ambiguity codes R Y K M S W B D H V (and
 * '-'), else protein (every letter, '*', '-'); it is the task's data_state, so a rebuild
 * from a checkpoint keeps it. */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP 0   /* the record separator token */

/* token id order: separator, then the common residues first */
static const char nucleotide[] = "ACGTNURYKMSWBDHV-";
static const char protein[] = "ACDEFGHIKLMNPQRSTVWYBJOUXZ*-";

typedef struct {
    long records;
    size_t residues;
} fasta_count;

/* 0 for a byte that is no residue, else the letter folded to upper case */
static int residue(unsigned char c) {
    if (c >= 'a' && c <= 'z') return c - 'a' + 'A';
    if ((c >= 'A' && c <= 'Z') || c == '*' || c == '-') return c;
    return 0;
}

/* Parses buf[from, len) (one file) in place into buf[*w, ...): a SEP byte at each record,
 * then its residues as upper-case letters. alpha: the letters allowed (NULL: any residue).
 * Every refusal names path:line[:column]. */
static mn_status parse_file(const char *path, unsigned char *buf, size_t from, size_t len,
                            size_t *w, const char *alpha, const char *alpha_name,
                            fasta_count *c) {
    char nb[MN_ESCAPE_CAP];
    long line = 0, header_line = 0;
    int in_record = 0;
    size_t rec_residues = 0;
    for (size_t pos = from; pos < len;) {
        unsigned char *s = buf + pos;
        unsigned char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        line++;
        if (n && s[0] == '>') {
            if (in_record && !rec_residues)
                return mn_fail(MN_E_INPUT, "%s:%ld: the record has no sequence before the next "
                               "header; give every record at least one residue",
                               mn_data_name(nb, sizeof nb, path), header_line);
            in_record = 1;
            header_line = line;
            rec_residues = 0;
            buf[(*w)++] = SEP;   /* *w <= the header's '>' position: nothing unread is hit */
            c->records++;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            unsigned char b = s[k];
            if (b == ' ' || b == '\t' || b == '\r') continue;
            int r = residue(b);
            if (!r || (alpha && !strchr(alpha, r))) {
                if (r)
                    return mn_fail(MN_E_INPUT, "%s:%ld:%zu: '%c' is not in the %s alphabet "
                                   "detected from the training files (%s)",
                                   mn_data_name(nb, sizeof nb, path), line, k + 1, b,
                                   alpha_name, alpha);
                return mn_fail(MN_E_INPUT, "%s:%ld:%zu: byte 0x%02x%s%c%s is not a residue; "
                               "sequence lines hold letters (IUPAC codes), '*' or '-'",
                               mn_data_name(nb, sizeof nb, path), line, k + 1, b,
                               b > 32 && b < 127 ? " ('" : "", b > 32 && b < 127 ? b : ' ',
                               b > 32 && b < 127 ? "')" : "");
            }
            if (!in_record)
                return mn_fail(MN_E_INPUT, "%s:%ld: a sequence line before any header; FASTA "
                               "records start with a '>' line",
                               mn_data_name(nb, sizeof nb, path), line);
            buf[(*w)++] = (unsigned char)r;
            rec_residues++;
            c->residues++;
        }
    }
    if (!in_record)
        return mn_fail(MN_E_INPUT, "\"%s\" holds no record; give FASTA ('>' header lines, "
                       "then sequence lines)", mn_data_name(nb, sizeof nb, path));
    if (!rec_residues)
        return mn_fail(MN_E_INPUT, "%s:%ld: the record has no sequence; give every record at "
                       "least one residue", mn_data_name(nb, sizeof nb, path), header_line);
    return MN_OK;
}

/* One label per line (blank lines skipped) into classes: all whole numbers in [0, 65535]
 * are the classes themselves, else every distinct text is a class in order of first
 * appearance. */
static mn_status read_labels(const char *path, long want, int32_t **out, int *classes) {
    char nb[MN_ESCAPE_CAP];
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    mn_status st = mn_data_append_file(path, "one label per record", &buf, &len, &cap);
    if (st) {   /* the buffer may be there, sized before the file proved empty */
        mn_release(buf);
        return st;
    }
    long n = 0;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    n++;
    int32_t *lab = mn_alloc((size_t)n * sizeof *lab);
    size_t *start = mn_alloc((size_t)n * sizeof *start), *slen = mn_alloc((size_t)n * sizeof *slen);
    if (!lab || !start || !slen) st = MN_E_NOMEM;
    long k = 0;
    int numeric = 1;
    for (size_t pos = 0; !st && pos < len;) {
        unsigned char *s = buf + pos;
        unsigned char *nl = memchr(s, '\n', len - pos);
        size_t m = nl ? (size_t)(nl - s) : len - pos, b = 0;
        const size_t line_len = m;
        while (b < m && (s[b] == ' ' || s[b] == '\t')) b++;
        while (m > b && (s[m - 1] == ' ' || s[m - 1] == '\t' || s[m - 1] == '\r')) m--;
        if (m > b) {
            start[k] = pos + b;
            slen[k] = m - b;
            int digits = slen[k] <= 5;
            long v = 0;   /* the line is not NUL-terminated: read its digits in place */
            for (size_t j = b; j < m; j++) {
                digits &= s[j] >= '0' && s[j] <= '9';
                if (digits) v = v * 10 + (s[j] - '0');
            }
            if (digits && v > 65535) digits = 0;
            numeric &= digits;
            k++;
        }
        pos += line_len + (nl != NULL);
    }
    if (!st && k != want)
        st = mn_fail(MN_E_INPUT, "\"%s\" holds %ld label%s and the FASTA files %ld record%s; "
                     "give one label per record, in record order, one per line",
                     mn_data_name(nb, sizeof nb, path), k, k == 1 ? "" : "s", want,
                     want == 1 ? "" : "s");
    int top = 0;
    for (long i = 0; !st && i < k; i++) {
        if (numeric) {
            char tmp[8];
            memcpy(tmp, buf + start[i], slen[i]);
            tmp[slen[i]] = 0;
            lab[i] = (int32_t)atol(tmp);
        } else {
            long j = 0;   /* the first label spelled alike */
            while (j < i && !(slen[j] == slen[i] && !memcmp(buf + start[j], buf + start[i], slen[i])))
                j++;
            lab[i] = j < i ? lab[j] : top;
            if (j == i && top == 65535)
                st = mn_fail(MN_E_INPUT, "\"%s\": more than 65535 distinct labels",
                             mn_data_name(nb, sizeof nb, path));
        }
        if (lab[i] >= top) top = lab[i] + 1;
    }
    mn_release(buf);
    mn_release(start);
    mn_release(slen);
    if (st) {
        mn_release(lab);
        return st;
    }
    *out = lab;
    *classes = top < 2 ? 2 : top;
    return MN_OK;
}

/* The records of buf[0, n) (SEP-led) as padded token sequences with their labels. */
static mn_status classify(const mn_data_files *f, unsigned char *buf, size_t n, long records,
                          long train_records, int vocab, uint64_t seed, mn_task **out) {
    char nb[MN_ESCAPE_CAP];
    int32_t *labels = NULL;
    int classes = 0;
    mn_status st = read_labels(f->labels, records, &labels, &classes);
    if (st) {
        mn_release(buf);
        return st;
    }
    if (records > INT32_MAX) st = mn_fail(MN_E_INPUT, "%ld records; at most %d", records, INT32_MAX);
    size_t T = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == SEP) cur = 0;
        else if (++cur > T) T = cur;
    }
    if (!st && T > (size_t)INT32_MAX / 2)
        st = mn_fail(MN_E_INPUT, "data \"%s\": a record of %zu residues; classification pads "
                     "every record to the longest, so keep records shorter",
                     mn_data_name(nb, sizeof nb, f->spec), T);
    size_t cells = 0;
    if (!st && !mn_mul_size((size_t)records, T, &cells))
        st = mn_fail(MN_E_INPUT, "data \"%s\": %ld records padded to %zu residues do not fit "
                     "in memory", mn_data_name(nb, sizeof nb, f->spec), records, T);
    int32_t *tok = st ? NULL : mn_alloc_zero(cells * sizeof *tok);
    int32_t *lens = st ? NULL : mn_alloc((size_t)records * sizeof *lens);
    if (!st && (!tok || !lens)) st = MN_E_NOMEM;
    if (!st) {
        long r = -1;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == SEP) {
                if (r >= 0) lens[r] = (int32_t)k;
                r++;
                k = 0;
            } else {
                tok[(size_t)r * T + k++] = buf[i];
            }
        }
        lens[r] = (int32_t)k;
    }
    mn_release(buf);   /* the records are in tok now */
    if (!st) {
        mn_arrays a;
        mn_arrays_init(&a);
        a.name = "fasta";
        a.sequences = (int)records;
        a.steps = (int)T;
        a.vocab_size = vocab;
        a.tokens = tok;
        a.lengths = lens;
        a.loss = MN_LOSS_CE;
        a.output = MN_OUTPUT_LAST;
        a.output_size = classes;
        a.labels = labels;
        if (f->nv) a.heldout = (int)(records - train_records);
        else {
            double h = floor(f->valid_fraction * (double)records + 0.5);
            if (f->valid_fraction > 0 && h < 1) h = 1;
            if (h >= (double)records)
                st = mn_fail(MN_E_INPUT, "data \"%s\" holds %ld record%s: too few to hold out "
                             "%g of them and train on the rest; give more, validation files, "
                             "or a validation fraction of 0", mn_data_name(nb, sizeof nb, f->spec),
                             records, records == 1 ? "" : "s", f->valid_fraction);
            a.heldout = (int)h;
        }
        if (!st) st = mn_task_from_arrays_split(&a, seed, f->nv > 0, out);
    }
    mn_release(tok);
    mn_release(lens);
    mn_release(labels);
    return st;
}

static mn_status fasta_open(const mn_data_files *f, uint64_t seed, mn_task **out) {
    char nb[MN_ESCAPE_CAP];
    const char *alpha = NULL, *alpha_name = NULL;
    if (f->state) {
        if (!strcmp(f->state, "nucleotide")) alpha = nucleotide, alpha_name = "nucleotide";
        else if (!strcmp(f->state, "protein")) alpha = protein, alpha_name = "protein";
        else
            return mn_fail(MN_E_INPUT, "the recorded alphabet \"%s\" is not nucleotide or "
                           "protein", mn_escape(nb, sizeof nb, f->state));
    }
    if (!f->labels && f->length < 1)
        return mn_fail(MN_E_ARG, "fasta data needs a window length (the residues of context "
                       "per training sequence), at least 1");
    size_t total = 0, size;
    mn_status st = MN_OK;
    for (int i = 0; i < f->n + f->nv && !st; i++) {
        st = mn_data_file_size(i < f->n ? f->paths[i] : f->vpaths[i - f->n], &size);
        total += size;
    }
    if (st) return st;
    unsigned char *buf = total ? mn_alloc(total) : NULL;
    if (total && !buf) return MN_E_NOMEM;
    size_t len = 0, cap = total, w = 0, train_tokens = 0;
    fasta_count c = {0, 0};
    long train_records = 0;
    for (int i = 0; i < f->n + f->nv && !st; i++) {
        const char *path = i < f->n ? f->paths[i] : f->vpaths[i - f->n];
        if (i == f->n && !alpha) {   /* the training files decide the alphabet */
            int nuc = 1;
            for (size_t k = 0; k < w && nuc; k++) nuc = buf[k] == SEP || strchr(nucleotide, buf[k]);
            alpha = nuc ? nucleotide : protein;
            alpha_name = nuc ? "nucleotide" : "protein";
        }
        size_t from = w;
        len = w;   /* the parsed ids stay; the next file is read after them */
        st = mn_data_append_file(path, "FASTA records", &buf, &len, &cap);
        if (!st) st = parse_file(path, buf, from, len, &w, alpha, alpha_name, &c);
        if (i == f->n - 1) train_tokens = w, train_records = c.records;
    }
    if (!st && !alpha) {
        int nuc = 1;
        for (size_t k = 0; k < w && nuc; k++) nuc = buf[k] == SEP || strchr(nucleotide, buf[k]);
        alpha = nuc ? nucleotide : protein;
        alpha_name = nuc ? "nucleotide" : "protein";
    }
    if (st) {
        mn_release(buf);
        return st;
    }
    /* letters to ids: 1 + their place in the alphabet */
    unsigned char id[256] = {0};
    for (int k = 0; alpha[k]; k++) id[(unsigned char)alpha[k]] = (unsigned char)(k + 1);
    for (size_t k = 0; k < w; k++) buf[k] = buf[k] == SEP ? SEP : id[buf[k]];
    const int vocab = (int)strlen(alpha) + 1;
    mn_task *t = NULL;
    if (f->labels) {
        st = classify(f, buf, w, c.records, train_records, vocab, seed, &t);
    } else {
        size_t split = f->nv ? train_tokens
                             : w - (size_t)floor(f->valid_fraction * (double)w + 0.5);
        double bases = 0;
        for (size_t k = split; k < w; k++) bases += buf[k] != SEP;
        if (split >= w) {
            mn_release(buf);
            return mn_fail(MN_E_ARG, "data \"%s\": the validation fraction %g of %zu tokens "
                           "leaves none to evaluate on; give a larger fraction or validation "
                           "files", mn_data_name(nb, sizeof nb, f->spec), f->valid_fraction, w);
        }
        st = mn_task_stream_create("fasta", buf, buf, NULL, w, split, vocab, f->length, bases,
                                   seed, &t);
        if (st == MN_E_INPUT) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", mn_last_error());
            st = mn_fail(st, "data \"%s\": %s (each record adds a separator token)",
                         mn_data_name(nb, sizeof nb, f->spec),
                         strncmp(msg, "fasta: ", 7) ? msg : msg + 7);
        }
        if (!st) t->info.tokens_per_byte = 0;   /* bytes of the file mean nothing here */
    }
    if (st) return st;
    t->info.data_state = alpha_name;
    *out = t;
    return MN_OK;
}

const mn_data_kind mn_data_fasta = {"fasta", "fasta:FILE[,FILE...]", 1, 64, fasta_open};
