"""Runs `seqc FILE --emit=typed` and `--emit=seq` on every examples/*.seq.

    each_example.py SEQC EXAMPLES_DIR

Prints `FAIL name: stage` for each failure (with seqc's message) and, at the
end, `checked N examples`; exits 1 if anything failed.
"""
import glob
import os
import subprocess
import sys

seqc, root = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(root, "*.seq")))
failed = False
for path in files:
    for stage in ("typed", "seq"):
        r = subprocess.run([seqc, path, "--emit=" + stage],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failed = True
            print("FAIL %s: --emit=%s\n%s" % (os.path.basename(path), stage,
                                               r.stderr))
print("checked %d examples" % len(files))
sys.exit(1 if failed else 0)
