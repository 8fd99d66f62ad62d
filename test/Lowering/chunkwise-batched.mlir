// RUN: seq-opt %s --split-input-file "--seq-chunkwise=short-sequential=false batched=1 chunk-size=4" --verify-diagnostics | FileCheck %s

// Tests the batched chunkwise form (the GPU's) on RetNet's recurrence, a
// decay per head read from an argument (its sign tracked by parity): the
// step tensors split into [items, chunks, C, X] in place; the chunks'
// cumulative log-decays as masked sums over the chunk; every chunk's
// update (k ⊙ decay to the chunk's end)ᵀ v at once, a contraction over
// the chunk's steps; the state pass a task per state element (a
// `seq.parallel` loop of scalar reads and writes walking the chunks); the
// outputs as three contractions over all (item, chunk): the inter-chunk
// part from the chunk-start states, the scores q kᵀ (masked and decayed)
// and the scores times v.
// CHECK-LABEL: func.func @retnet
// CHECK-SAME: %[[S0:[^:]+]]: tensor<2x8x16xf32>)
// CHECK: %[[CHUNKS:.+]] = arith.divui
// CHECK: seq.scan %{{.+}} output_axes = [1, 1, 1, 1, 1]
// CHECK: %[[INIT:.+]] = linalg.generic {{.+}} ins(%[[S0]] : tensor<2x8x16xf32>)
// CHECK: %[[KT:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2], [3]] output_shape [2, %[[CHUNKS]], 4, 8] : tensor<2x?x8xf32> into tensor<2x?x4x8xf32>
// CHECK: %[[V:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2], [3]] output_shape [2, %[[CHUNKS]], 4, 16] : tensor<2x?x16xf32> into tensor<2x?x4x16xf32>
// CHECK: %[[CUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.+}} : tensor<2x?x4x1xf32>) outs(%{{.+}} : tensor<2x?x4xf32>)
// CHECK: linalg.index 2
// CHECK: linalg.index 3
// CHECK: arith.cmpi ule
// CHECK: %[[SGN:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<2x?x4xf32>) outs(%{{.+}} : tensor<2x?x4xf32>)
// CHECK: math.floor
// CHECK: %[[KEND:.+]] = linalg.generic {{.+}} ins(%[[KT]], %[[CUM]], %[[CUM]], %[[SGN]], %[[SGN]] : {{.+}}) outs(%{{.+}} : tensor<2x?x4x8xf32>)
// CHECK: math.exp
// CHECK: %[[U:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[KEND]], %[[V]] : tensor<2x?x4x8xf32>, tensor<2x?x4x16xf32>) outs(%{{.+}} : tensor<2x?x8x16xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[TOTAL:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x?xf32>)
// CHECK: math.exp
// CHECK: %[[PASS:.+]]:2 = scf.for %[[W:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args({{.+}}) -> (tensor<2x?x8x16xf32>, tensor<2x8x16xf32>)
// CHECK: %[[H0:.+]] = tensor.extract %[[INIT]]
// CHECK: scf.for %[[N:.+]] = %{{.+}} to %[[CHUNKS]] {{.+}} iter_args(%[[H:.+]] = %[[H0]], %[[ST:.+]] = %{{.+}}) -> (f32, tensor<2x?x8x16xf32>)
// CHECK: tensor.insert %[[H]] into %[[ST]]
// CHECK: tensor.extract %[[U]]
// CHECK: tensor.extract %[[TOTAL]]
// CHECK: } {seq.parallel}
// CHECK: %[[Q:.+]] = tensor.expand_shape %{{.+}} : tensor<2x?x8xf32> into tensor<2x?x4x8xf32>
// CHECK: %[[QD:.+]] = linalg.generic {{.+}} ins(%[[Q]], %[[CUM]], %[[SGN]] : {{.+}})
// CHECK: %[[INTER:.+]] = linalg.generic {{.+}} ins(%[[QD]], %[[PASS]]#0 : tensor<2x?x4x8xf32>, tensor<2x?x8x16xf32>) outs(%{{.+}} : tensor<2x?x4x16xf32>)
// CHECK: %[[RAW:.+]] = linalg.generic {{.+}} ins(%[[Q]], %[[KT]] : tensor<2x?x4x8xf32>, tensor<2x?x4x8xf32>) outs(%{{.+}} : tensor<2x?x4x4xf32>)
// CHECK: %[[SCORES:.+]] = linalg.generic {{.+}} ins(%[[CUM]], %[[CUM]], %[[SGN]], %[[SGN]] : {{.+}}) outs(%[[RAW]] : tensor<2x?x4x4xf32>)
// CHECK: %[[O:.+]] = linalg.generic {{.+}} ins(%[[SCORES]], %[[V]] : tensor<2x?x4x4xf32>, tensor<2x?x4x16xf32>) outs(%[[INTER]] : tensor<2x?x4x16xf32>)
// CHECK: tensor.collapse_shape %[[O]] {{\[\[}}0], [1, 2], [3]] : tensor<2x?x4x16xf32> into tensor<2x?x16xf32>
// CHECK: %[[FINAL:.+]] = linalg.generic {{.+}} ins(%[[PASS]]#1 : tensor<2x8x16xf32>)
// CHECK: return %[[FINAL]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#hh = affine_map<(d0, d1, d2) -> (d0)>
func.func @retnet(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %gamma: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with a decay per batch item, read by a contraction over its key axis: chunkwise (chunks of 4, all at once)}}
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

// Tests that q, k and v already laid out [heads, T, X] are read where they
// are when the length is a whole number of chunks (and each is all of its
// tensor), else copied, padded: the steps' scan materialises only the
// log-decays, and each of q, k, v is an scf.if on that condition.
// CHECK-LABEL: func.func @retnet_views
// CHECK-SAME: %[[QS:[^:]+]]: tensor<2x?x8xf32>, %[[KS:[^:]+]]: tensor<2x?x8xf32>, %[[VS:[^:]+]]: tensor<2x?x16xf32>
// CHECK: seq.scan %{{.+}} output_axes = [1, 1] -> (tensor<2x?x1xf32>, tensor<2x?x1xf32>)
// CHECK: %[[REM:.+]] = arith.remui %{{.+}}, %c4
// CHECK: %[[WHOLE:.+]] = arith.cmpi eq, %[[REM]], %c0
// CHECK: arith.andi %[[WHOLE]]
// CHECK: scf.if %{{.+}} -> (tensor<2x?x8xf32>) {
// CHECK-NEXT: tensor.cast %[[QS]]
// CHECK: } else {
// CHECK: tensor.extract_slice %[[QS]]
// CHECK: tensor.insert_slice
// CHECK: linalg.fill
// CHECK: scf.if %{{.+}} -> (tensor<2x?x8xf32>) {
// CHECK-NEXT: tensor.cast %[[KS]]
// CHECK: scf.if %{{.+}} -> (tensor<2x?x16xf32>) {
// CHECK-NEXT: tensor.cast %[[VS]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#hh = affine_map<(d0, d1, d2) -> (d0)>
func.func @retnet_views(%len: index, %qs: tensor<2x?x8xf32>, %ks: tensor<2x?x8xf32>, %vs: tensor<2x?x16xf32>, %gamma: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with a decay per batch item, read by a contraction over its key axis: chunkwise (chunks of 4, all at once)}}
  %S, %o = seq.scan %len carry(%s0 : tensor<2x8x16xf32>) output_axes = [0] -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  ^bb0(%t: index, %s: tensor<2x8x16xf32> loc("S")):
    %q = tensor.extract_slice %qs[0, %t, 0] [2, 1, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<2x8xf32>
    %k = tensor.extract_slice %ks[0, %t, 0] [2, 1, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<2x8xf32>
    %v = tensor.extract_slice %vs[0, %t, 0] [2, 1, 16] [1, 1, 1] : tensor<2x?x16xf32> to tensor<2x16xf32>
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

// Tests a decay per key known positive (GLA's, here exp): its cumulative
// log-decays [items, chunks, C, K] by a task per (item, chunk, key)
// walking the chunk; the chunk updates and the state pass decayed per
// key; the scores Σ_k q_ik k_jk exp(b_ik - b_jk) as the contraction of
// q exp(b - b_C / 2) and k exp(b_C / 2 - b), then recomputed exactly per
// key, a task per score, in the chunks whose total log-decay is below
// -120 on some key.
// CHECK-LABEL: func.func @gla
// CHECK: seq.scan %{{.*}} output_axes
// CHECK: scf.for {{.*}} -> (tensor<2x?x4x8xf32>)
// CHECK:   scf.for {{.*}} -> (f32, tensor<2x?x4x8xf32>)
// CHECK: } {seq.parallel}
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: } {seq.parallel}
// CHECK: arith.minimumf
// CHECK: scf.for {{.*}} -> (tensor<2x?x4x4xf32>)
// CHECK:   arith.cmpf olt, %{{.*}}, %{{.*}} : f32
// CHECK:   scf.if %{{.*}} -> (tensor<2x?x4x4xf32>)
// CHECK:     scf.for {{.*}} -> (f32)
// CHECK:       math.exp
// CHECK: } {seq.parallel}
// CHECK: return
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @gla(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %fs: tensor<?x2x8xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with a decay per key, read by a contraction over its key axis: chunkwise (chunks of 4, all at once)}}
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

// Tests that a decay per key that may be negative (tanh) is left to the
// other forms, with a remark.
// CHECK-LABEL: func.func @gla_signs
// CHECK: seq.scan
// CHECK-NOT: seq.parallel
// CHECK: return %{{.+}}#0, %{{.+}}#1
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @gla_signs(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %fs: tensor<?x2x8xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{scan not chunkwise: carry 'S' has a decay per key not known to be positive, which the batched chunkwise form does not take yet}}
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
      %x = math.tanh %a0 : f32
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

// Tests DeltaNet's delta rule in the batched WY form: A = strictly-lower
// (β B Kᵀ) for every chunk as one contraction; T = (I + A)⁻¹ by forward
// substitution, a task per (item, chunk, column) walking the rows (a
// `seq.parallel` loop, rows and their sums sequential in it); -W = T (-β
// B) and U = T β V as contractions; then a loop over chunks on the host
// (not `seq.parallel`), every item at once: the chunk's start state kept,
// U~ = U + (-W) S into U's chunk and S ← S + Kᵀ U~ into S as contractions
// (in place), U~ then read by the outputs where linear attention reads v.
// CHECK-LABEL: func.func @deltanet
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} {{.+}} outs(%{{.+}} : tensor<2x?x4x4xf32>)
// CHECK: %[[A:.+]] = linalg.generic
// CHECK: arith.cmpi ult
// CHECK: %[[T:.+]] = scf.for {{.+}} -> (tensor<2x?x4x4xf32>) {
// CHECK:   scf.for {{.+}} -> (tensor<2x?x4x4xf32>) {
// CHECK:     scf.for {{.+}} -> (f32) {
// CHECK:       tensor.extract %[[A]]
// CHECK: } {seq.parallel}
// CHECK: arith.negf
// CHECK: %[[W:.+]] = linalg.generic {{.+}} ins(%[[T]], %{{.+}} : tensor<2x?x4x4xf32>, tensor<2x?x4x8xf32>)
// CHECK: %[[U:.+]] = linalg.generic {{.+}} ins(%[[T]], %{{.+}} : tensor<2x?x4x4xf32>, tensor<2x?x4x16xf32>)
// CHECK: %[[PASS:.+]]:3 = scf.for %{{.+}} iter_args(%[[S:.+]] = %{{.+}}, %{{.+}} = %{{.+}}, %[[UIN:.+]] = %[[U]]) -> (tensor<2x8x16xf32>, tensor<2x?x8x16xf32>, tensor<2x?x4x16xf32>) {
// CHECK:   tensor.insert_slice %[[S]]
// CHECK:   tensor.extract_slice %[[W]]
// CHECK:   %[[UC:.+]] = tensor.extract_slice %[[UIN]]
// CHECK:   %[[UT:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} {{.+}} outs(%[[UC]] :
// CHECK:   tensor.insert_slice %[[UT]] into %[[UIN]]
// CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.+}}, %[[UT]] : {{.+}}) outs(%[[S]] :
// CHECK-NOT: seq.parallel
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %[[PASS]]#2 : tensor<2x?x4x4xf32>, tensor<2x?x4x16xf32>)
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#hk = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv = affine_map<(d0, d1, d2) -> (d0, d2)>
#rq = affine_map<(d0, d1, d2) -> (d0, d2)>
#rs = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ro = affine_map<(d0, d1, d2) -> (d0, d1)>
#kv2 = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
#ok = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @deltanet(%len: index, %qs: tensor<?x2x8xf32>, %ks: tensor<?x2x8xf32>, %vs: tensor<?x2x16xf32>, %unused: tensor<2xf32>, %s0: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<?x2x16xf32>) {
  // expected-remark@+1 {{carry 'S' is a 8x16 matrix state with the delta-rule transition (I - β k kᵀ), read by a contraction over its key axis: chunkwise (WY form, chunks of 4, all at once)}}
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
