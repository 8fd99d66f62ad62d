// RUN: seq-opt %s --split-input-file "--seq-chunkwise=short-sequential=false" --verify-diagnostics | FileCheck %s

// Tests that a GLA recurrence (S = g ⊙ S + k ⊗ v with g = exp(f) per head
// and key, o = q S) becomes a carry-free scan of q, kᵀ, v and log g, chunk
// states passed by one loop over the heads and outputs computed by another
// over (head, chunk), starting from the initial carry.
// CHECK-LABEL: func.func @gla
// CHECK-SAME: %[[S0:[^:]+]]: tensor<2x8x16xf32>)
// CHECK: %[[PADDED:.+]] = arith.muli
// CHECK: %[[QBUF:.+]] = bufferization.alloc_tensor(%[[PADDED]]) : tensor<2x?x8xf32>
// CHECK: %[[KBUF:.+]] = bufferization.alloc_tensor(%[[PADDED]]) : tensor<2x8x?xf32>
// CHECK: %[[STEPS:.+]]:4 = seq.scan %{{.+}} output_axes = [1, 2, 1, 1] -> (tensor<2x?x8xf32>, tensor<2x8x?xf32>, tensor<2x?x16xf32>, tensor<2x?x8xf32>)
// CHECK: math.exp
// CHECK: math.log
// CHECK-NOT: math.floor
// CHECK: %[[QIN:.+]] = tensor.insert_slice %[[STEPS]]#0 into %[[QBUF]]
// CHECK: %[[QTAIL:.+]] = tensor.extract_slice %[[QIN]][0, %{{.+}}, 0] [2, %{{.+}}, 8]
// CHECK: %[[QZ:.+]] = linalg.fill {{.+}} outs(%[[QTAIL]]
// CHECK: tensor.insert_slice %[[QZ]] into %[[QIN]]
// CHECK: tensor.insert_slice %[[STEPS]]#1 into %[[KBUF]]
// CHECK: tensor.insert_slice %[[STEPS]]#2
// CHECK: tensor.insert_slice %[[STEPS]]#3
// CHECK: %[[INIT:.+]] = linalg.generic {{.+}} ins(%[[S0]] : tensor<2x8x16xf32>)
// CHECK: %[[STATES:.+]] = scf.for
// CHECK: tensor.extract_slice %[[INIT]]
// CHECK: scf.for
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x32xf32>, tensor<32x8xf32>)
// CHECK: math.exp
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<8x32xf32>, tensor<32x16xf32>) outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: {seq.parallel}
// CHECK: %[[OUT:.+]] = scf.for
// CHECK: tensor.extract_slice %[[STATES]]
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x16xf32>)
// CHECK: scf.if
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x32xf32>)
// CHECK: else
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x32xf32>, tensor<32x16xf32>)
// CHECK: {seq.parallel}
// CHECK: %[[FINAL:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<2x8x16xf32>)
// CHECK: %[[O:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<2x?x16xf32>)
// CHECK: return %[[FINAL]], %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @gla(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %fs: tensor<?x2x8xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with a decay per key, read by a contraction over its key axis: chunkwise (chunks of 32)}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %f = tensor.extract_slice %fs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %e8 = tensor.empty() : tensor<2x8xf32>
    %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%f : tensor<2x8xf32>) outs(%e8 : tensor<2x8xf32>) {
    ^bb0(%a0: f32, %a1: f32):
      %x = math.exp %a0 : f32
      linalg.yield %x : f32
    } -> tensor<2x8xf32>
    %gs = linalg.generic {indexing_maps = [#hk, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%g, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %kv = linalg.generic {indexing_maps = [#hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%k, %v : tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%gs, %kv : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.addf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that a decay per head read from an argument (RetNet's γ), not
// known to be positive, is taken in log|γ| with its sign tracked by the
// parity of negative factors, and that the scores are a matmul of q and kᵀ.
// CHECK-LABEL: func.func @retnet
// CHECK: seq.scan %{{.+}} output_axes = [1, 2, 1, 1, 1] -> (tensor<2x?x8xf32>, tensor<2x8x?xf32>, tensor<2x?x16xf32>, tensor<2x?x1xf32>, tensor<2x?x1xf32>)
// CHECK: math.absf
// CHECK: math.log
// CHECK: arith.cmpf olt
// CHECK: {seq.parallel}
// CHECK: math.floor
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x32xf32>)
// CHECK: {seq.parallel}
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#hh = affine_map<(d0, d1, d2) -> (d0)>
func.func @retnet(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %gamma: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with a decay per batch item}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %gs = linalg.generic {indexing_maps = [#hh, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%gamma, %s : tensor<2xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %kv = linalg.generic {indexing_maps = [#hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%k, %v : tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%gs, %kv : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.addf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that linear attention without a decay (S + k ⊗ v in one payload)
// needs no log-decays and no decay factors.
// CHECK-LABEL: func.func @linear
// CHECK: seq.scan %{{.+}} output_axes = [1, 2, 1] -> (tensor<2x?x8xf32>, tensor<2x8x?xf32>, tensor<2x?x16xf32>)
// CHECK-NOT: math.exp
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<8x32xf32>, tensor<32x16xf32>)
// CHECK-NOT: math.exp
// CHECK: return
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @linear(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with no decay}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %v : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.addf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that DeltaNet's transition (S + k ⊗ (v - kᵀ S), β = 1 here), affine
// through a contraction, becomes the WY form: a carry-free scan of q, kᵀ, v
// and b (the key the state is read with), a loop over (head, chunk) solving
// (I + A) T = I row by row for W = T B and U = T V, the state pass with
// U~ = U - W S and S ← S + Kᵀ U~, and the outputs over U~.
// CHECK-LABEL: func.func @deltanet
// CHECK: %[[STEPS:.+]]:4 = seq.scan %{{.+}} output_axes = [1, 2, 1, 1] -> (tensor<2x?x8xf32>, tensor<2x8x?xf32>, tensor<2x?x16xf32>, tensor<2x?x8xf32>)
// CHECK-NOT: math.log
// CHECK: %[[WY:.+]]:2 = scf.for
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x32xf32>)
// CHECK: arith.cmpi ult
// CHECK: %[[T:.+]] = scf.for
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<1x32xf32>, tensor<32x32xf32>)
// CHECK: arith.subf
// CHECK: linalg.matmul ins(%[[T]], %{{.+}} : tensor<32x32xf32>, tensor<32x8xf32>)
// CHECK: linalg.matmul ins(%[[T]], %{{.+}} : tensor<32x32xf32>, tensor<32x16xf32>)
// CHECK: {seq.parallel}
// CHECK: %[[PASS:.+]]:2 = scf.for
// CHECK: tensor.extract_slice %[[WY]]#0
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x16xf32>)
// CHECK: tensor.extract_slice %[[WY]]#1
// CHECK: arith.subf
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<8x32xf32>, tensor<32x16xf32>) outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: {seq.parallel}
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[PASS]]#1
// CHECK: {seq.parallel}
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @deltanet(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with the delta-rule transition (I - β k kᵀ), read by a contraction over its key axis: chunkwise (WY form, chunks of 32)}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %zero0 = arith.constant 0.0 : f32
    %e16a = tensor.empty() : tensor<2x16xf32>
    %z0 = linalg.fill ins(%zero0 : f32) outs(%e16a : tensor<2x16xf32>) -> tensor<2x16xf32>
    %old = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%k, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z0 : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v, %old : tensor<2x16xf32>, tensor<2x16xf32>) outs(%e16a : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.subf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %u : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.addf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that a delta rule reading the state with another key than it writes
// (S + k ⊗ (v - qᵀ S)) takes the WY form too, b = q: A = strictly-lower(B Kᵀ).
// CHECK-LABEL: func.func @delta_read_key
// CHECK: %[[STEPS:.+]]:4 = seq.scan
// CHECK: %[[WY:.+]]:2 = scf.for
// CHECK: {seq.parallel}
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @delta_read_key(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with the delta-rule transition (I - β k bᵀ), read by a contraction over its key axis: chunkwise (WY form, chunks of 32)}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %zero0 = arith.constant 0.0 : f32
    %e16a = tensor.empty() : tensor<2x16xf32>
    %z0 = linalg.fill ins(%zero0 : f32) outs(%e16a : tensor<2x16xf32>) -> tensor<2x16xf32>
    %old = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z0 : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v, %old : tensor<2x16xf32>, tensor<2x16xf32>) outs(%e16a : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.subf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %u : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.addf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that the gated delta rule (α (S - k ⊗ kᵀ S) + k ⊗ v, α per head, of
// unknown sign) takes the WY form with the decays in log space: A and W
// scaled by the decay's products from the chunk start, signs by parity.
// CHECK-LABEL: func.func @gated_delta
// CHECK: seq.scan %{{.+}} output_axes = [1, 2, 1, 1, 1, 1] -> (tensor<2x?x8xf32>, tensor<2x8x?xf32>, tensor<2x?x16xf32>, tensor<2x?x8xf32>, tensor<2x?x1xf32>, tensor<2x?x1xf32>)
// CHECK: math.log
// CHECK: arith.cmpf olt
// CHECK: %[[WY:.+]]:2 = scf.for
// CHECK: math.floor
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<32x8xf32>, tensor<8x32xf32>)
// CHECK: math.exp
// CHECK: %[[T:.+]] = scf.for
// CHECK: linalg.matmul ins(%[[T]], %{{.+}} : tensor<32x32xf32>, tensor<32x8xf32>)
// CHECK: {seq.parallel}
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[WY]]#0
// CHECK: math.exp
// CHECK: {seq.parallel}
// CHECK: math.exp
// CHECK: {seq.parallel}
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
#hh = affine_map<(d0, d1, d2) -> (d0)>
func.func @gated_delta(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %alpha: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with the gated delta-rule transition α (I - β k kᵀ), α per batch item, read by a contraction over its key axis: chunkwise (WY form, chunks of 32)}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %zero0 = arith.constant 0.0 : f32
    %e16a = tensor.empty() : tensor<2x16xf32>
    %z0 = linalg.fill ins(%zero0 : f32) outs(%e16a : tensor<2x16xf32>) -> tensor<2x16xf32>
    %old = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%k, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z0 : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v, %old : tensor<2x16xf32>, tensor<2x16xf32>) outs(%e16a : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.subf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x16xf32>
    %er = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %old : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.subf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#hh, #id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%alpha, %er, %k, %v : tensor<2xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32):
      %x = arith.mulf %a0, %a1 : f32
      %w = arith.mulf %a2, %a3 : f32
      %y = arith.addf %x, %w : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that the gated delta rule with a decay per key (α ⊙ (S - k ⊗ kᵀ S)
// + k ⊗ v, α per head and key) stays sequential with a remark saying why.
// CHECK-LABEL: func.func @gated_delta_per_key
// CHECK: seq.scan %{{.+}} carry(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
#hh = affine_map<(d0, d1, d2) -> (d0)>
func.func @gated_delta_per_key(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %alpha: tensor<2x8xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: carry 'S' follows the gated delta rule α (I - β k kᵀ) S + β k vᵀ with a decay that varies along the key or value axis, which the WY form here does not take: it stays sequential}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %zero0 = arith.constant 0.0 : f32
    %e16a = tensor.empty() : tensor<2x16xf32>
    %z0 = linalg.fill ins(%zero0 : f32) outs(%e16a : tensor<2x16xf32>) -> tensor<2x16xf32>
    %old = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%k, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z0 : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v, %old : tensor<2x16xf32>, tensor<2x16xf32>) outs(%e16a : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.subf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x16xf32>
    %er = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %old : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.subf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#hk, #id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%alpha, %er, %k, %v : tensor<2x8xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32):
      %x = arith.mulf %a0, %a1 : f32
      %w = arith.mulf %a2, %a3 : f32
      %y = arith.addf %x, %w : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that a transition through a contraction that writes k ⊗ v but
// erases q ⊗ (kᵀ S), not the delta rule, is refused, saying why.
// CHECK-LABEL: func.func @not_delta
// CHECK: seq.scan %{{.+}} carry(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @not_delta(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: carry 'S' is affine through a contraction, but not the delta rule (I - β k kᵀ) S + β k vᵀ: the key written and the key erased differ}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %zero0 = arith.constant 0.0 : f32
    %e16a = tensor.empty() : tensor<2x16xf32>
    %z0 = linalg.fill ins(%zero0 : f32) outs(%e16a : tensor<2x16xf32>) -> tensor<2x16xf32>
    %old = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%k, %s : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z0 : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    %u = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v, %old : tensor<2x16xf32>, tensor<2x16xf32>) outs(%e16a : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.subf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #hk, #hv, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %v, %q, %old : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32, %a5: f32):
      %x = arith.mulf %a1, %a2 : f32
      %w = arith.mulf %a3, %a4 : f32
      %y = arith.addf %a0, %x : f32
      %z = arith.subf %y, %w : f32
      linalg.yield %z : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that a decay varying along every axis of the state (Mamba's
// selective scan) leaves no value axis: refused, for the diagonal scan.
// CHECK-LABEL: func.func @mamba
// CHECK: seq.scan %{{.+}} carry(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @mamba(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %a: tensor<2x8x16xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: carry 'S' has no value axis}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %gs = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a, %s : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %kv = linalg.generic {indexing_maps = [#hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%k, %v : tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%gs, %kv : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.addf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that a scan whose output is the state itself (every step's state
// stored) is refused: the chunkwise form never stores them.
// CHECK-LABEL: func.func @states
// CHECK: seq.scan %{{.+}} carry(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @states(%len: index, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x8x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: output #0 does not read the state through a contraction over one axis}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x8x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %k, %v : tensor<2x8x16xf32>, tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32):
      %x = arith.mulf %a1, %a2 : f32
      %y = arith.addf %a0, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8x16xf32>
    seq.yield %sn, %sn : tensor<2x8x16xf32>, tensor<2x8x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x8x16xf32>
}

// -----

// Tests that a state going through a nonlinearity is refused, naming it.
// CHECK-LABEL: func.func @nonlinear
// CHECK: seq.scan %{{.+}} carry(
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @nonlinear(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: carry 'S' is not affine in the carries: `tanh`}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 16] [1, 1, 1] : tensor<?x2x16xf32> to tensor<2x16xf32>
    %e = tensor.empty() : tensor<2x8x16xf32>
    %th = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32):
      %x = math.tanh %a0 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %kv = linalg.generic {indexing_maps = [#hk, #hv, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%k, %v : tensor<2x8xf32>, tensor<2x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %sn = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%th, %kv : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%e : tensor<2x8x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.addf %a0, %a1 : f32
      linalg.yield %x : f32
    } -> tensor<2x8x16xf32>
    %zero = arith.constant 0.0 : f32
    %e16 = tensor.empty() : tensor<2x16xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %ot = linalg.generic {indexing_maps = [#rq, #rs, #ro], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %sn : tensor<2x8xf32>, tensor<2x8x16xf32>) outs(%z : tensor<2x16xf32>) {
    ^bb0(%a0: f32, %a1: f32, %a2: f32):
      %x = arith.mulf %a0, %a1 : f32
      %y = arith.addf %a2, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x16xf32>
    seq.yield %sn, %ot : tensor<2x8x16xf32>, tensor<2x16xf32>
  }
  return %S, %o : tensor<2x8x16xf32>, tensor<?x2x16xf32>
}
