// RUN: seq-opt %s --split-input-file "--seq-split-carries=min-length=0" --verify-diagnostics | FileCheck %s

// Tests that Aaren's online softmax (m' = max(m, s), num' = num exp(m - m')
// + v exp(s - m'), den likewise, o = num / den) becomes a max scan of the
// scores and a scan of the sums reading m_{t-1} and m_t from its states
// (m_0 = -inf is the identity: nothing folded in). The sums stay in one scan:
// neither is a matrix read by a contraction.
// CHECK-LABEL: func.func @aaren
// CHECK-SAME: (%[[LEN:[^:]+]]: index, %[[SS:[^:]+]]: tensor<?x4xf32>
// CHECK: %[[NINF:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[X:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x4xf32>)
// CHECK: tensor.extract_slice %[[SS]]
// CHECK: %[[S:.+]] = seq.assoc_scan axis = 0 (%[[X]]) : tensor<?x4xf32>
// CHECK: arith.maximumf
// CHECK: %[[FIRST:.+]] = tensor.insert_slice %[[NINF]] into %{{.+}}[0, 0] [1, 4] [1, 1] : tensor<4xf32> into tensor<?x4xf32>
// CHECK: %[[ALL:.+]] = tensor.insert_slice %[[S]] into %[[FIRST]][1, 0] [%[[LEN]], 4] [1, 1]
// CHECK: %[[PREV:.+]] = tensor.extract_slice %[[ALL]][0, 0] [%[[LEN]], 4] [1, 1]
// CHECK: %[[M:.+]] = tensor.extract_slice %[[ALL]][%[[LEN]], 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
// CHECK: %[[REST:.+]]:3 = seq.scan %[[LEN]] carry(%{{.+}}, %{{.+}} : tensor<4x8xf32>, tensor<4xf32>) output_axes = [0] -> (tensor<4x8xf32>, tensor<4xf32>, tensor<?x4x8xf32>)
// CHECK: tensor.extract_slice %[[PREV]][%{{.+}}, 0] [1, 4] [1, 1]
// CHECK: tensor.extract_slice %[[S]][%{{.+}}, 0] [1, 4] [1, 1]
// CHECK-NOT: arith.maximumf
// CHECK: arith.divf
// CHECK: return %[[M]], %[[REST]]#0, %[[REST]]#1, %[[REST]]#2
#id1 = affine_map<(d0) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @aaren(%len: index, %ss: tensor<?x4xf32>, %vs: tensor<?x4x8xf32>) -> (tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x4x8xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %d0 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %n0 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  // expected-remark@+1 {{split the running max 'm' off as a parallel max scan (max(m, x)); 'num': affine (diagonal), 'den': affine (diagonal)}}
  %m, %num, %den, %o = seq.scan %len carry(%m0, %n0, %d0 : tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x4x8xf32>) {
  ^bb0(%t: index, %mo: tensor<4xf32> loc("m"), %no: tensor<4x8xf32> loc("num"), %do: tensor<4xf32> loc("den")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 4, 8] [1, 1, 1] : tensor<?x4x8xf32> to tensor<4x8xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%mo, %s : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.maximumf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %r = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%mo, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.subf %a, %b : f32
      %y = math.exp %x : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    %p = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%s, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.subf %a, %b : f32
      %y = math.exp %x : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    %nn = linalg.generic {indexing_maps = [#id2, #row, #id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%no, %r, %v, %p : tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>) outs(%e2 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32, %e: f32):
      %x = arith.mulf %a, %b : f32
      %y = arith.mulf %c, %d : f32
      %z = arith.addf %x, %y : f32
      linalg.yield %z : f32
    } -> tensor<4x8xf32>
    %dn = linalg.generic {indexing_maps = [#id1, #id1, #id1, #id1], iterator_types = ["parallel"]} ins(%do, %r, %p : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
      %x = arith.mulf %a, %b : f32
      %z = arith.addf %x, %c : f32
      linalg.yield %z : f32
    } -> tensor<4xf32>
    %ot = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%nn, %dn : tensor<4x8xf32>, tensor<4xf32>) outs(%e2 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.divf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4x8xf32>
    seq.yield %mn, %nn, %dn, %ot : tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>
  }
  return %m, %num, %den, %o : tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x4x8xf32>
}

// -----

// Tests that mLSTM's stabiliser m' = max(log f + m, i) from m = 0 becomes a
// max-plus scan of (log f, i) with m_0 folded in (max(m_0 + A, B)), that the
// max op is gone from the scan of the matrix state C (read by a contraction,
// for seq-chunkwise) and of n, and that h = num / den is computed after them.
// CHECK-LABEL: func.func @mlstm
// CHECK-SAME: (%[[LEN:[^:]+]]: index, %[[LF:[^:]+]]: tensor<?x2xf32>, %[[I:[^:]+]]: tensor<?x2xf32>
// CHECK: %[[M0:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2xf32>)
// CHECK: %[[AX:.+]]:2 = seq.scan %[[LEN]] output_axes = [0, 0] -> (tensor<?x2xf32>, tensor<?x2xf32>)
// CHECK: %[[A:.+]] = tensor.extract_slice %[[LF]]
// CHECK: %[[B:.+]] = tensor.extract_slice %[[I]]
// CHECK: seq.yield %[[A]], %[[B]]
// CHECK: %[[S:.+]]:2 = seq.assoc_scan axis = 0 (%[[AX]]#0, %[[AX]]#1)
// CHECK: ^bb0(%[[A1:[^:]+]]: tensor<2xf32>, %[[B1:[^:]+]]: tensor<2xf32>, %[[A2:[^:]+]]: tensor<2xf32>, %[[B2:[^:]+]]: tensor<2xf32>):
// CHECK: ins(%[[A1]], %[[B1]], %[[A2]], %[[B2]] :
// CHECK: ^bb0(%[[SA1:[^:]+]]: f32, %[[SB1:[^:]+]]: f32, %[[SA2:[^:]+]]: f32, %[[SB2:[^:]+]]: f32,
// CHECK: %[[SA:.+]] = arith.addf %[[SA1]], %[[SA2]] : f32
// CHECK: %[[SHIFTED:.+]] = arith.addf %[[SB1]], %[[SA2]] : f32
// CHECK: %[[SM:.+]] = arith.maxnumf %[[SHIFTED]], %[[SB2]] : f32
// CHECK: linalg.yield %[[SA]], %[[SM]]
// CHECK: %[[MS:.+]] = linalg.generic {{.+}} ins(%[[S]]#0, %[[S]]#1, %[[M0]] :
// CHECK: ^bb0(%[[FA:[^:]+]]: f32, %[[FB:[^:]+]]: f32, %[[FM0:[^:]+]]: f32,
// CHECK: %[[SUM:.+]] = arith.addf %[[FM0]], %[[FA]] : f32
// CHECK: arith.maxnumf %[[SUM]], %[[FB]] : f32
// CHECK: %[[FIRST:.+]] = tensor.insert_slice %[[M0]] into
// CHECK: %[[ALL:.+]] = tensor.insert_slice %[[MS]] into %[[FIRST]][1, 0]
// CHECK: %[[PREV:.+]] = tensor.extract_slice %[[ALL]][0, 0] [%[[LEN]], 2] [1, 1]
// CHECK: %[[M:.+]] = tensor.extract_slice %[[ALL]][%[[LEN]], 0] [1, 2] [1, 1]
// CHECK: %[[C:.+]]:2 = seq.scan %[[LEN]] carry(%{{.+}} : tensor<2x4x8xf32>) output_axes = [0] -> (tensor<2x4x8xf32>, tensor<?x2x8xf32>)
// CHECK-NOT: arith.maxnumf
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: %[[N:.+]]:2 = seq.scan %[[LEN]] carry(%{{.+}} : tensor<2x4xf32>) output_axes = [0] -> (tensor<2x4xf32>, tensor<?x2xf32>)
// CHECK: %[[H:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x2x8xf32>)
// CHECK: tensor.extract_slice %[[C]]#1
// CHECK: %[[DEN:.+]] = tensor.extract_slice %[[N]]#1
// CHECK: tensor.expand_shape %[[DEN]]
// CHECK: return %[[C]]#0, %[[N]]#0, %[[M]], %[[H]]
#id1 = affine_map<(d0) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#h3 = affine_map<(d0, d1, d2) -> (d0)>
#hk3 = affine_map<(d0, d1, d2) -> (d0, d1)>
#hv3 = affine_map<(d0, d1, d2) -> (d0, d2)>
#h2 = affine_map<(d0, d1) -> (d0)>
func.func @mlstm(%len: index, %lfs: tensor<?x2xf32>, %is: tensor<?x2xf32>, %ks: tensor<?x2x4xf32>, %vs: tensor<?x2x8xf32>, %qs: tensor<?x2x4xf32>) -> (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2xf32>, tensor<?x2x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2xf32>
  %e2 = tensor.empty() : tensor<2x4xf32>
  %ev = tensor.empty() : tensor<2x8xf32>
  %e3 = tensor.empty() : tensor<2x4x8xf32>
  %m0 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2xf32>) -> tensor<2xf32>
  %n0 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %c0 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %zv = linalg.fill ins(%zero : f32) outs(%ev : tensor<2x8xf32>) -> tensor<2x8xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2xf32>) -> tensor<2xf32>
  // expected-remark@+1 {{split the running max 'm' off as a parallel max-plus scan (max(m + a, x)); 'C': affine (diagonal), 'n': affine (diagonal); in 2 scans of their own}}
  %C, %n, %m, %h = seq.scan %len carry(%c0, %n0, %m0 : tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2xf32>) output_axes = [0] -> (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2xf32>, tensor<?x2x8xf32>) {
  ^bb0(%t: index, %co: tensor<2x4x8xf32> loc("C"), %no: tensor<2x4xf32> loc("n"), %mo: tensor<2xf32> loc("m")):
    %lf = tensor.extract_slice %lfs[%t, 0] [1, 2] [1, 1] : tensor<?x2xf32> to tensor<2xf32>
    %i = tensor.extract_slice %is[%t, 0] [1, 2] [1, 1] : tensor<?x2xf32> to tensor<2xf32>
    %k = tensor.extract_slice %ks[%t, 0, 0] [1, 2, 4] [1, 1, 1] : tensor<?x2x4xf32> to tensor<2x4xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 2, 8] [1, 1, 1] : tensor<?x2x8xf32> to tensor<2x8xf32>
    %q = tensor.extract_slice %qs[%t, 0, 0] [1, 2, 4] [1, 1, 1] : tensor<?x2x4xf32> to tensor<2x4xf32>
    %lm = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%lf, %mo : tensor<2xf32>, tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.addf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<2xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%lm, %i : tensor<2xf32>, tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.maxnumf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<2xf32>
    %fg = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%lm, %mn : tensor<2xf32>, tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.subf %a, %b : f32
      %y = math.exp %x : f32
      linalg.yield %y : f32
    } -> tensor<2xf32>
    %ig = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%i, %mn : tensor<2xf32>, tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.subf %a, %b : f32
      %y = math.exp %x : f32
      linalg.yield %y : f32
    } -> tensor<2xf32>
    %cn = linalg.generic {indexing_maps = [#h3, #id3, #h3, #hk3, #hv3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%fg, %co, %ig, %k, %v : tensor<2xf32>, tensor<2x4x8xf32>, tensor<2xf32>, tensor<2x4xf32>, tensor<2x8xf32>) outs(%e3 : tensor<2x4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32, %e: f32, %f: f32):
      %x = arith.mulf %a, %b : f32
      %y = arith.mulf %c, %d : f32
      %w = arith.mulf %y, %e : f32
      %z = arith.addf %x, %w : f32
      linalg.yield %z : f32
    } -> tensor<2x4x8xf32>
    %nn = linalg.generic {indexing_maps = [#h2, #id2, #h2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%fg, %no, %ig, %k : tensor<2xf32>, tensor<2x4xf32>, tensor<2xf32>, tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32, %f: f32):
      %x = arith.mulf %a, %b : f32
      %y = arith.mulf %c, %d : f32
      %z = arith.addf %x, %y : f32
      linalg.yield %z : f32
    } -> tensor<2x4xf32>
    %num = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %cn : tensor<2x4xf32>, tensor<2x4x8xf32>) outs(%zv : tensor<2x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.mulf %a, %b : f32
      %y = arith.addf %o, %x : f32
      linalg.yield %y : f32
    } -> tensor<2x8xf32>
    %dq = linalg.generic {indexing_maps = [#id2, #id2, #h2], iterator_types = ["parallel", "reduction"]} ins(%nn, %q : tensor<2x4xf32>, tensor<2x4xf32>) outs(%z1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.mulf %a, %b : f32
      %y = arith.addf %o, %x : f32
      linalg.yield %y : f32
    } -> tensor<2xf32>
    %den = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%dq, %mn : tensor<2xf32>, tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = math.absf %a : f32
      %nb = arith.negf %b : f32
      %y = math.exp %nb : f32
      %z = arith.maxnumf %x, %y : f32
      linalg.yield %z : f32
    } -> tensor<2xf32>
    %den2 = tensor.expand_shape %den [[0, 1]] output_shape [2, 1] : tensor<2xf32> into tensor<2x1xf32>
    %ht = linalg.generic {indexing_maps = [#id2, affine_map<(d0, d1) -> (d0, 0)>, #id2], iterator_types = ["parallel", "parallel"]} ins(%num, %den2 : tensor<2x8xf32>, tensor<2x1xf32>) outs(%ev : tensor<2x8xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %x = arith.divf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<2x8xf32>
    seq.yield %cn, %nn, %mn, %ht : tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2xf32>, tensor<2x8xf32>
  }
  return %C, %n, %m, %h : tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2xf32>, tensor<?x2x8xf32>
}

// -----

// Tests that a max that reads another carry (m' = max(m, s - d)) is not
// split off, with a remark naming the carry and the max.
// CHECK-LABEL: func.func @reads_other
// CHECK: %[[R:.+]]:3 = seq.scan %{{.+}} carry(%{{.+}}, %{{.+}} : tensor<4xf32>, tensor<4xf32>)
// CHECK-NOT: seq.assoc_scan
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
#id1 = affine_map<(d0) -> (d0)>
func.func @reads_other(%len: index, %ss: tensor<?x4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<?x4xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %one = arith.constant 1.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %d0 = linalg.fill ins(%one : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  // expected-remark@+1 {{running max 'm' not split off: its update reads carry 'd' as well}}
  %m, %d, %o = seq.scan %len carry(%m0, %d0 : tensor<4xf32>, tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<4xf32>, tensor<?x4xf32>) {
  ^bb0(%t: index, %mo: tensor<4xf32> loc("m"), %do: tensor<4xf32> loc("d")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %x = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%s, %do : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %y = arith.subf %a, %b : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%mo, %x : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %y = arith.maximumf %a, %b : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    %dn = linalg.generic {indexing_maps = [#id1, #id1, #id1, #id1], iterator_types = ["parallel"]} ins(%do, %mo, %mn : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32, %r: f32):
      %y = arith.subf %b, %c : f32
      %z = math.exp %y : f32
      %w = arith.mulf %a, %z : f32
      %v = arith.addf %w, %one : f32
      linalg.yield %v : f32
    } -> tensor<4xf32>
    seq.yield %mn, %dn, %dn : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
  return %m, %d, %o : tensor<4xf32>, tensor<4xf32>, tensor<?x4xf32>
}

// -----

// Tests that a running max from a given initial value, alone in its scan
// with an output reading it, folds the initial value into the scanned
// states (max(m_0, S_t)) and leaves a carry-free scan of the outputs; and
// that a reverse scan is refused.
// CHECK-LABEL: func.func @given_init
// CHECK-SAME: (%[[LEN:[^:]+]]: index, %[[SS:[^:]+]]: tensor<?x4xf32>, %[[M0:[^:]+]]: tensor<4xf32>)
// CHECK: %[[X:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x4xf32>)
// CHECK: %[[S:.+]] = seq.assoc_scan axis = 0 (%[[X]])
// CHECK: %[[MS:.+]] = linalg.generic {{.+}} ins(%[[S]], %[[M0]] :
// CHECK: ^bb0(%[[SV:[^:]+]]: f32, %[[INIT:[^:]+]]: f32,
// CHECK: arith.maximumf %[[INIT]], %[[SV]] : f32
// CHECK: %[[FIRST:.+]] = tensor.insert_slice %[[M0]] into
// CHECK: %[[ALL:.+]] = tensor.insert_slice %[[MS]] into %[[FIRST]]
// CHECK: %[[M:.+]] = tensor.extract_slice %[[ALL]][%[[LEN]], 0] [1, 4] [1, 1]
// CHECK: %[[O:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x4xf32>)
// CHECK-NEXT: ^bb0(%[[T:.+]]: index):
// CHECK: %[[MT:.+]] = tensor.extract_slice %[[MS]][%[[T]], 0] [1, 4] [1, 1]
// CHECK: seq.yield %[[MT]]
// CHECK: return %[[M]], %[[O]]
// CHECK-LABEL: func.func @reverse
// CHECK: seq.scan reverse
// CHECK-NOT: seq.assoc_scan
#id1 = affine_map<(d0) -> (d0)>
func.func @given_init(%len: index, %ss: tensor<?x4xf32>, %m0: tensor<4xf32>) -> (tensor<4xf32>, tensor<?x4xf32>) {
  %e1 = tensor.empty() : tensor<4xf32>
  // expected-remark@+1 {{split the running max 'm' off as a parallel max scan (max(m, x))}}
  %m, %o = seq.scan %len carry(%m0 : tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<?x4xf32>) {
  ^bb0(%t: index, %mo: tensor<4xf32> loc("m")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%s, %mo : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %y = arith.maximumf %a, %b : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    seq.yield %mn, %mn : tensor<4xf32>, tensor<4xf32>
  }
  return %m, %o : tensor<4xf32>, tensor<?x4xf32>
}
func.func @reverse(%len: index, %ss: tensor<?x4xf32>, %m0: tensor<4xf32>) -> (tensor<4xf32>, tensor<?x4xf32>) {
  %e1 = tensor.empty() : tensor<4xf32>
  // expected-remark@+1 {{running max 'm' not split off: the scan runs in reverse}}
  %m, %o = seq.scan reverse %len carry(%m0 : tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<?x4xf32>) {
  ^bb0(%t: index, %mo: tensor<4xf32> loc("m")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%s, %mo : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %y = arith.maximumf %a, %b : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    seq.yield %mn, %mn : tensor<4xf32>, tensor<4xf32>
  }
  return %m, %o : tensor<4xf32>, tensor<?x4xf32>
}

// -----

// Tests that a scan of constant length keeps static types: m_0 .. m_5 in a
// tensor<6x4xf32>, m_{t-1} its first 5 steps, the final carry its step 5.
// CHECK-LABEL: func.func @static_length
// CHECK: %[[ALL:.+]] = tensor.insert_slice %{{.+}} into %{{.+}}[1, 0] [5, 4] [1, 1] : tensor<5x4xf32> into tensor<6x4xf32>
// CHECK: tensor.extract_slice %[[ALL]][0, 0] [5, 4] [1, 1] : tensor<6x4xf32> to tensor<5x4xf32>
// CHECK: %[[M:.+]] = tensor.extract_slice %[[ALL]][5, 0] [1, 4] [1, 1] : tensor<6x4xf32> to tensor<4xf32>
// CHECK: return %[[M]]
#id1 = affine_map<(d0) -> (d0)>
func.func @static_length(%ss: tensor<5x4xf32>, %m0: tensor<4xf32>) -> (tensor<4xf32>, tensor<5x4xf32>) {
  %len = arith.constant 5 : index
  %e1 = tensor.empty() : tensor<4xf32>
  // expected-remark@+1 {{split the running max 'm' off as a parallel max scan (max(m, x))}}
  %m, %o = seq.scan %len carry(%m0 : tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<5x4xf32>) {
  ^bb0(%t: index, %mo: tensor<4xf32> loc("m")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<5x4xf32> to tensor<4xf32>
    %mn = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%s, %mo : tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %y = arith.maximumf %a, %b : f32
      linalg.yield %y : f32
    } -> tensor<4xf32>
    seq.yield %mn, %mn : tensor<4xf32>, tensor<4xf32>
  }
  return %m, %o : tensor<4xf32>, tensor<5x4xf32>
}
