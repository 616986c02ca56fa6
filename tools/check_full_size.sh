#!/usr/bin/env bash
# Full-size fidelity check (not a test: minutes of f64 work): random-weight nf=256 / UNet nf=192
# checkpoints saved like the official ones, f64 PyTorch reference vs `mvs infer`.
# Usage: [BACKEND=cpu|gpu] [CPU_CONV=winograd4x4|winograd2x2] tools/check_full_size.sh DIR [PYTHON]
#   (defaults: cpu, winograd4x4; CPU_CONV is the CPU backend's `--cpu-conv`)
set -euo pipefail
DIR=${1:?usage: tools/check_full_size.sh DIR [PYTHON]}
PY=${2:-python3}
BACKEND=${BACKEND:-cpu}
CPU_CONV=${CPU_CONV:-winograd4x4}
[ -f "$DIR/mvs_s5a_f64.npy" ] || "$PY" tools/reference.py --out "$DIR" --nf 256 --unet-nf 192 --cases 0a,1a,3b,5a
cargo build --release --bin mvs
MVS=./target/release/mvs
[ -f "$DIR/model.safetensors" ] || $MVS convert --multiverseg "$DIR/mvs.pt" --scribbleprompt "$DIR/sp.pt" -o "$DIR/model.safetensors"
"$PY" - "$DIR" <<'PY'
import numpy as np, sys, os
d = sys.argv[1]
ci, cl = np.load(f"{d}/context_images.npy"), np.load(f"{d}/context_labels.npy")
for s in (0, 1, 3, 5):
    np.save(f"{d}/ci{s}.npy", ci[:, :s]); np.save(f"{d}/cl{s}.npy", cl[:, :s])
PY
worst=0
for case in 0a 1a 3b 5a; do
  s=${case:0:1}; t=${case:1:1}
  $MVS infer --model "$DIR/model.safetensors" --network multiverseg --backend "$BACKEND" --cpu-conv "$CPU_CONV" --threads 2 --target "$DIR/target_$t.npy" \
    --context-images "$DIR/ci$s.npy" --context-labels "$DIR/cl$s.npy" --out "$DIR/rust_mvs_$case.npy" >/dev/null
done
for t in a b; do
  $MVS infer --model "$DIR/model.safetensors" --network scribbleprompt --backend "$BACKEND" --cpu-conv "$CPU_CONV" --threads 2 --target "$DIR/target_$t.npy" --out "$DIR/rust_sp_$t.npy" >/dev/null
done
"$PY" - "$DIR" "$BACKEND" <<'PY'
import numpy as np, sys
d = sys.argv[1]; bad = 0
pairs = [(f"mvs_s{c[0]}{c[1]}", f"rust_mvs_{c}") for c in ("0a", "1a", "3b", "5a")] + [(f"sp_{t}", f"rust_sp_{t}") for t in "ab"]
for ref, ours in pairs:
    r64, r32, o = np.load(f"{d}/{ref}_f64.npy"), np.load(f"{d}/{ref}_f32.npy"), np.load(f"{d}/{ours}.npy")
    e, e32 = np.abs(o - r64).max(), np.abs(r32 - r64).max()
    print(f"{ref}: mvs ({sys.argv[2]}) max abs err vs f64 {e:.2e} (PyTorch f32: {e32:.2e}; max |logit| {np.abs(r64).max():.2f})")
    bad += e >= 5e-5
sys.exit(1 if bad else 0)
PY
# The exported graph (symbolic B and S) in ONNX Runtime, when it is installed: B=2, each item
# with its own context, against the f64 vectors (item 0: S=3 target b; item 1: S=3 target a,
# checked against B=1 of the same graph) and the UNet with B=2.
if "$PY" -c "import onnxruntime" 2>/dev/null; then
  $MVS export-onnx --model "$DIR/model.safetensors" --network multiverseg -o "$DIR/export_mvs.onnx" >/dev/null
  $MVS export-onnx --model "$DIR/model.safetensors" --network scribbleprompt -o "$DIR/export_sp.onnx" >/dev/null
  "$PY" - "$DIR" <<'PY'
import numpy as np, onnxruntime as ort, sys
d = sys.argv[1]
so = ort.SessionOptions(); so.intra_op_num_threads = 2
mvs = ort.InferenceSession(f"{d}/export_mvs.onnx", so, providers=["CPUExecutionProvider"])
sp = ort.InferenceSession(f"{d}/export_sp.onnx", so, providers=["CPUExecutionProvider"])
ta, tb = np.load(f"{d}/target_a.npy"), np.load(f"{d}/target_b.npy")
ci, cl = np.load(f"{d}/context_images.npy"), np.load(f"{d}/context_labels.npy")
run = lambda t, i, l: mvs.run(None, {"target": t, "context_images": i, "context_labels": l})[0]
out = run(np.concatenate([tb, ta]), np.concatenate([ci[:, :3], ci[:, 2:5]]), np.concatenate([cl[:, :3], cl[:, 2:5]]))
e0 = np.abs(out[:1] - np.load(f"{d}/mvs_s3b_f64.npy")).max()
e1 = np.abs(out[1:] - run(ta, ci[:, 2:5], cl[:, 2:5])).max()
u = sp.run(None, {"target": np.concatenate([ta, tb])})[0]
ea, eb = (np.abs(u[i:i + 1] - np.load(f"{d}/sp_{w}_f64.npy")).max() for i, w in ((0, "a"), (1, "b")))
print(f"export-onnx in ONNX Runtime, B=2: item 0 vs f64 {e0:.2e}, item 1 vs B=1 {e1:.2e}; UNet vs f64 {ea:.2e} {eb:.2e}")
sys.exit(0 if max(e0, ea, eb) < 5e-5 and e1 < 1e-5 else 1)
PY
fi
