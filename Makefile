# The two commands a newcomer needs: `make demo` and `make check`.
# Both install what is missing (Debian bookworm, apt-get), then build.

BUILD     ?= build
LLVM_BIN  := /usr/lib/llvm-22/bin
PACKAGES  := llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 \
             lld-22 libclang-rt-22-dev flex bison cmake ninja-build \
             libdlpack-dev libgtest-dev libbenchmark-dev python3-numpy \
             python3-matplotlib libopenblas0
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SEQC      := $(BUILD)/bin/seqc

.PHONY: all deps build check demo fuzz clean

all: build

# Installs the Debian packages that are not there yet.
deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(BUILD)/build.ninja:
	cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER=$(LLVM_BIN)/clang -DCMAKE_CXX_COMPILER=$(LLVM_BIN)/clang++

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Every test: lit (Frontend, Dialect, MLIRGen, Interpreter, Integration).
check: build
	ninja -C $(BUILD) check-seq

# The main job: a two-block Llama compiled to build/demo/libllama.so, run
# by the runtime-only seqrt-run on deterministic weights and inputs, and
# checked against the reference interpreter and an independent NumPy model.
demo: build
	$(SEQC) examples/llama.seq --emit=seq | head -n 20
	@mkdir -p $(BUILD)/demo
	$(SEQC) examples/llama.seq -o $(BUILD)/demo/libllama.so
	/usr/bin/python3 test/Integration/Inputs/compiled.py llama \
	  --seqc $(SEQC) --seqrt-run $(BUILD)/bin/seqrt-run --examples examples \
	  --work $(BUILD)/demo -B 2 -T 16
	$(BUILD)/bin/seqrt-run $(BUILD)/demo/libllama.so --weights=$(BUILD)/demo/llama_B2_T16.safetensors \
	  --input x=$(BUILD)/demo/llama_B2_T16_x.npy --bench=20

# CPU benchmarks (bench/README.md): compile time of every example, models
# against NumPy, elementwise chains against copy bandwidth. Prints the tables
# and writes bench/results/cpu-DATE.json and .png; about 3 minutes.
.PHONY: bench
bench: build
	/usr/bin/python3 bench/run.py --seqc $(SEQC) --seqrt-run $(BUILD)/bin/seqrt-run \
	  --work $(BUILD)/bench

# Every example compiled for --target=cuda into $(BUILD)/gpu-bundle, with
# seqrt-run, inputs, weights and the interpreter's outputs; its run.py runs
# them where the GPU is (docs/gpu.md).
.PHONY: gpu-bundle
# FLA=CHECKOUT also copies flash-linear-attention's fla/ package into it
# (bench/gpu/linear_attention.py's peers).
FLA ?=
gpu-bundle: build
	/usr/bin/python3 bench/gpu/bundle.py --seqc $(SEQC) --build $(BUILD) \
	  --out $(BUILD)/gpu-bundle $(if $(FLA),--fla $(FLA))

# Runs the front-end fuzzer (see fuzz/README.md) for FUZZ_SECONDS.
FUZZ_SECONDS ?= 600
fuzz: deps
	cmake -G Ninja -S . -B $(BUILD)-fuzz -DSEQC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=$(LLVM_BIN)/clang -DCMAKE_CXX_COMPILER=$(LLVM_BIN)/clang++
	ninja -C $(BUILD)-fuzz seq-fuzz-frontend
	mkdir -p $(BUILD)-fuzz/corpus
	$(BUILD)-fuzz/bin/seq-fuzz-frontend $(BUILD)-fuzz/corpus examples fuzz/corpus \
	  -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -dict=fuzz/seq.dict

clean:
	rm -rf $(BUILD) $(BUILD)-fuzz
