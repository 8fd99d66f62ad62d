# lit configuration for seqc.
import os
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SEQC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".seq", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.seq_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%examples", os.path.join(config.seq_src_root, "examples")))
config.substitutions.append(("%seq_src_root", config.seq_src_root))
config.substitutions.append(("%testinputs", os.path.join(config.test_source_root, "Inputs")))
# Debian's python3-numpy belongs to /usr/bin/python3, which lit also uses.
config.substitutions.append(("%python", "/usr/bin/python3"))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
# `seqc run` caches compiled libraries: keep the tests' cache in the build.
config.environment["SEQC_CACHE_DIR"] = os.path.join(config.seq_obj_root, "test", "seqc-cache")

llvm_config.with_system_environment(["HOME", "TMPDIR", "SEQRT_NUM_THREADS"])
llvm_config.use_default_substitutions()

tool_dirs = [config.seq_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["seqc", "seq-opt", "seqrt-run", "seqrt-unit-tests"], tool_dirs)
llvm_config.add_tool_substitutions(["not", "count", "llvm-nm"], [config.llvm_tools_dir])

# GPU tests run only where a CUDA device answers.
if shutil.which("nvidia-smi") and os.system("nvidia-smi -L >/dev/null 2>&1") == 0:
    config.available_features.add("cuda-device")

# The CUDA toolkit's ptxas (and fatbinary, libdevice): seqc --target=cuda
# needs it to compile kernels; a machine without CUDA skips those tests.
cuda_path = os.environ.get("SEQC_CUDA_PATH", "/usr/local/cuda")
if os.path.exists(os.path.join(cuda_path, "bin", "ptxas")):
    config.available_features.add("cuda-toolkit")
    config.substitutions.append(("%ptxas", os.path.join(cuda_path, "bin", "ptxas")))
# Whether the CUDA driver is there (a GPU machine), for the no-driver error.
if os.system("ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1 '") == 0:
    config.available_features.add("cuda-driver")
