# mnemo build. Needs only a C11 compiler, libm and (optionally) OpenMP.
#   make            library (static + shared) and the mnemo binary
#   make run        the main job: tanh RNN, LSTM, Transformer, TCN, S4D on the adding problem, T=50 and 100
#   make test       the whole test suite
#   make sanitize   the same suite built with -fsanitize=address,undefined
#   make fuzz       libFuzzer harnesses (clang), FUZZ_SECONDS=300 each; see fuzz/run.sh
#   make bench-gemm GEMM vs measured FMA peak and OpenBLAS (if installed); BENCH_ARGS=--quick
#   make bench-attention  the attention kernel vs the FMA peak; BENCH_ARGS="--T 1024,4096"
#   make install    PREFIX=/usr/local (and DESTDIR=staging): bin/mnemo, lib/libmnemo.so.M.m
#                   (SONAME libmnemo.so.M) with its links, lib/libmnemo.a, include/mnemo.h,
#                   lib/pkgconfig/mnemo.pc, share/man/man1/mnemo.1; make uninstall removes them
#   make MPI=1      the same with MPI data parallelism (mpirun -np N build/mpi/mnemo train ...),
#                   built with mpicc (or pkg-config's ompi-c) into build/mpi; make MPI=1 test
CC      ?= cc
MPI     ?= 0
# An MPI build has a folder of its own, so a plain make never links objects compiled for
# MPI (nor the other way round).
ifeq ($(MPI),1)
BUILD   ?= build/mpi
endif
BUILD   ?= build
OPT     ?= -O3
CFLAGS  ?=
WARN    := -Wall -Wextra -Wno-unknown-pragmas
SRC_DIRS := core math layers model io data diag lab dist
# The library and the tests see the internal headers of every concern; the CLI sees only
# the public header (include/mnemo.h), as any program linking libmnemo would.
BASEFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude $(WARN) -fPIC $(OPT)
INTERNAL  := $(SRC_DIRS:%=-Isrc/%)

# OpenMP is optional: probe whether the compiler accepts it.
OPENMP := $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
# MPI: mpicc, or pkg-config's flags for Open MPI's ompi-c (or MPICH's mpich) when CC was
# given or there is no mpicc; MN_WITH_MPI turns on src/dist/comm_mpi.c and cli/ranks.c.
MPI_CFLAGS :=
MPI_LIBS   :=
ifeq ($(MPI),1)
MPICC := $(shell command -v mpicc 2>/dev/null)
MPI_PC := $(firstword $(foreach p,ompi-c mpich,$(shell pkg-config --exists $(p) 2>/dev/null && echo $(p))))
ifneq ($(and $(MPI_PC),$(or $(filter command line environment,$(origin CC)),$(if $(MPICC),,none))),)
MPI_CFLAGS := $(shell pkg-config --cflags $(MPI_PC))
MPI_LIBS   := $(shell pkg-config --libs $(MPI_PC))
else ifneq ($(MPICC),)
CC := $(MPICC)
else
$(error MPI=1 needs mpicc or pkg-config's ompi-c (apt-get install openmpi-bin libopenmpi-dev))
endif
MPI_CFLAGS += -DMN_WITH_MPI
# what a static link against libmnemo.a needs besides (mnemo.pc's Libs.private)
MPI_PCLIBS := $(if $(MPI_PC),$(shell pkg-config --libs $(MPI_PC)),$(shell $(MPICC) --showme:link 2>/dev/null))
endif
# zlib is optional too (idx: data may be gzip-compressed): probe a compile and link with
# -lz; `make ZLIB=0` builds without it (gzip files are then refused with one line).
ifeq ($(ZLIB),0)
ZLIB_LIBS :=
else
ZLIB_LIBS := $(shell printf '\043include <zlib.h>\nint main(void){return zlibVersion()[0] == 0;}' | $(CC) -x c - -lz -o /dev/null 2>/dev/null && echo -lz)
endif
ZLIB_CFLAGS := $(if $(ZLIB_LIBS),-DMN_WITH_ZLIB)
ALLFLAGS := $(BASEFLAGS) $(OPENMP) $(MPI_CFLAGS) $(ZLIB_CFLAGS) $(CFLAGS)
LDLIBS  := -lm $(OPENMP) $(MPI_LIBS) $(ZLIB_LIBS)

# The version lives in one place, mnemo.h; the shared library is named after it.
VERSION := $(shell sed -n 's/^\#define MNEMO_VERSION "\(.*\)"/\1/p' include/mnemo.h)
MAJOR   := $(word 1,$(subst ., ,$(VERSION)))
MINOR   := $(word 2,$(subst ., ,$(VERSION)))
SONAME  := libmnemo.so.$(MAJOR)
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man/man1
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

LIB_SRC  := $(sort $(wildcard $(SRC_DIRS:%=src/%/*.c)))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS  := $(wildcard include/*.h $(SRC_DIRS:%=src/%/*.h) $(SRC_DIRS:%=src/%/*.def) cli/*.h tests/*.h fuzz/*.h)

.PHONY: all run test sanitize clean features bench bench-gemm bench-attention bench-cells install uninstall
all: features $(BUILD)/libmnemo.a $(BUILD)/libmnemo.so $(BUILD)/mnemo

features:
	@echo "mnemo build: OpenMP $(if $(OPENMP),yes,no (single-threaded))," \
	      "MPI $(if $(filter 1,$(MPI)),yes ($(if $(MPI_LIBS),pkg-config $(MPI_PC),$(notdir $(CC)))),no (make MPI=1))," \
	      "zlib $(if $(ZLIB_LIBS),yes,no (gzip idx: files refused; apt-get install zlib1g-dev))," \
	      "CPU kernels: avx512/avx2/scalar chosen at run time;" \
	      "OpenBLAS not used; CUDA backend not built"

# Library objects hide every symbol but the API that mnemo.h marks public (check: nm -D).
$(BUILD)/src/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(INTERNAL) -fvisibility=hidden -c $< -o $@

$(BUILD)/cli/%.o: cli/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(INTERNAL) -c $< -o $@

$(BUILD)/libmnemo.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmnemo.so: $(LIB_OBJ) mnemo.map Makefile
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=mnemo.map $(ALLFLAGS) -o $@ \
	    $(LIB_OBJ) $(LDLIBS)

$(BUILD)/mnemo: $(CLI_OBJ) $(BUILD)/libmnemo.a
	$(CC) $(ALLFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmnemo.a $(LDLIBS)

$(BUILD)/test_runner: $(TEST_OBJ) $(BUILD)/libmnemo.a
	$(CC) $(ALLFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libmnemo.a $(LDLIBS)

# OpenBLAS is dlopen'ed at run time, never linked; -ldl is a no-op on glibc >= 2.34.
$(BUILD)/gemm_bench: bench/gemm_bench.c $(BUILD)/libmnemo.a $(HEADERS)
	$(CC) $(ALLFLAGS) $(INTERNAL) -o $@ bench/gemm_bench.c $(BUILD)/libmnemo.a $(LDLIBS) -ldl

bench-gemm: $(BUILD)/gemm_bench
	$(BUILD)/gemm_bench $(BENCH_ARGS)

$(BUILD)/attention_bench: bench/attention_bench.c $(BUILD)/libmnemo.a $(HEADERS)
	$(CC) $(ALLFLAGS) $(INTERNAL) -o $@ bench/attention_bench.c $(BUILD)/libmnemo.a $(LDLIBS)

bench-attention: $(BUILD)/attention_bench
	$(BUILD)/attention_bench $(BENCH_ARGS)

$(BUILD)/cell_time: bench/cell_time.c $(BUILD)/libmnemo.a $(HEADERS)
	$(CC) $(ALLFLAGS) $(INTERNAL) -o $@ bench/cell_time.c $(BUILD)/libmnemo.a $(LDLIBS)

bench-cells: $(BUILD)/cell_time
	$(BUILD)/cell_time $(BENCH_ARGS)

run: all
	bash tools/run_main_job.sh $(BUILD)/mnemo

test: all $(BUILD)/test_runner
	bash tests/run.sh $(BUILD)

# Learning checks are slow under the sanitizers; they run in `make test`.
# (with MPI=1 in a folder of its own, like every MPI build)
ASAN_BUILD := $(if $(filter 1,$(MPI)),build/asan-mpi,build/asan)
sanitize:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" all $(ASAN_BUILD)/test_runner
	MNEMO_SKIP_SLOW=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 bash tests/run.sh $(ASAN_BUILD)

# Fuzzing, never part of test: fuzz/run.sh builds the libFuzzer harnesses with clang into
# build/fuzz/ and runs each for FUZZ_SECONDS (default 300), one after another.
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz:
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' bash fuzz/run.sh

# ----------------------------------------------------------------- install
# The man page is made from the binary's own --help texts; the pkg-config file from the
# template with this install's directories (written at install time: PREFIX may change).
$(BUILD)/mnemo.1: $(BUILD)/mnemo tools/gen_man.sh
	bash tools/gen_man.sh $(BUILD)/mnemo > $@.tmp && mv $@.tmp $@

INSTALLED := $(BINDIR)/mnemo $(LIBDIR)/libmnemo.so.$(MAJOR).$(MINOR) $(LIBDIR)/$(SONAME) \
             $(LIBDIR)/libmnemo.so $(LIBDIR)/libmnemo.a $(INCLUDEDIR)/mnemo.h \
             $(PKGCONFIGDIR)/mnemo.pc $(MANDIR)/mnemo.1

install: all $(BUILD)/mnemo.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(MANDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/mnemo $(DESTDIR)$(BINDIR)/mnemo
	install -m 755 $(BUILD)/libmnemo.so $(DESTDIR)$(LIBDIR)/libmnemo.so.$(MAJOR).$(MINOR)
	ln -sf libmnemo.so.$(MAJOR).$(MINOR) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmnemo.so
	install -m 644 $(BUILD)/libmnemo.a $(DESTDIR)$(LIBDIR)/libmnemo.a
	install -m 644 include/mnemo.h $(DESTDIR)$(INCLUDEDIR)/mnemo.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@OPENMP@|$(strip $(OPENMP) $(MPI_PCLIBS) $(ZLIB_LIBS))|' mnemo.pc.in \
	    > $(DESTDIR)$(PKGCONFIGDIR)/mnemo.pc
	install -m 644 $(BUILD)/mnemo.1 $(DESTDIR)$(MANDIR)/mnemo.1
	@echo "mnemo $(VERSION) installed under $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	rm -rf build
