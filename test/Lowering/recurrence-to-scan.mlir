// RUN: seq-opt %s --split-input-file --seq-recurrence-to-scan --verify-diagnostics | FileCheck %s

// Tests that h = a[t] * h + x[t] with h0 = 0 becomes a carry-free scan of
// the coefficients, an affine assoc_scan, the final carry from the last
// state (h0 for an empty scan) and a carry-free scan of the outputs.
// CHECK-LABEL: func.func @diagonal
// CHECK-SAME: (%[[LEN:.+]]: index, %[[AS:.+]]: tensor<?x4xf32>, %[[XS:.+]]: tensor<?x4xf32>)
// CHECK: %[[H0:.+]] = linalg.fill
// CHECK: %[[C:.+]]:2 = seq.scan %[[LEN]] output_axes = [0, 0] -> (tensor<?x4xf32>, tensor<?x4xf32>) {
// CHECK-NEXT: ^bb0(%[[T:[^:]+]]: index):
// CHECK: %[[A:.+]] = tensor.extract_slice %[[AS]][%[[T]], 0]
// CHECK: %[[X:.+]] = tensor.extract_slice %[[XS]][%[[T]], 0]
// CHECK: %[[AH:.+]]:2 = linalg.generic {{.+}} ins(%[[A]] : tensor<4xf32>)
// CHECK-NEXT: ^bb0(%[[IA0:[^:]+]]: f32,
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.0
// CHECK-NEXT: linalg.yield %[[IA0]], %[[ZERO]] : f32, f32
// CHECK: %[[HN:.+]]:2 = linalg.generic {{.+}} ins(%[[AH]]#0, %[[AH]]#1, %[[X]] :
// CHECK-NEXT: ^bb0(%[[IA:[^:]+]]: f32, %[[IB:[^:]+]]: f32, %[[IX:[^:]+]]: f32,
// CHECK-NEXT: %[[S:.+]] = arith.addf %[[IB]], %[[IX]]
// CHECK-NEXT: linalg.yield %[[IA]], %[[S]]
// CHECK: seq.yield %[[HN]]#0, %[[HN]]#1
// CHECK: %[[R:.+]]:2 = seq.assoc_scan axis = 0 (%[[C]]#0, %[[C]]#1)
// CHECK-NEXT: ^bb0(%[[A1:[^:]+]]: tensor<4xf32>, %[[B1:[^:]+]]: tensor<4xf32>, %[[A2:[^:]+]]: tensor<4xf32>, %[[B2:[^:]+]]: tensor<4xf32>):
// CHECK: linalg.generic {{.+}} ins(%[[A1]], %[[B1]], %[[A2]], %[[B2]] :
// CHECK-NEXT: ^bb0(%[[SA1:[^:]+]]: f32, %[[SB1:[^:]+]]: f32, %[[SA2:[^:]+]]: f32, %[[SB2:[^:]+]]: f32,
// CHECK-NEXT: %[[AA:.+]] = arith.mulf %[[SA1]], %[[SA2]]
// CHECK-NEXT: %[[AB:.+]] = arith.mulf %[[SA2]], %[[SB1]]
// CHECK-NEXT: %[[BB:.+]] = arith.addf %[[AB]], %[[SB2]]
// CHECK-NEXT: linalg.yield %[[AA]], %[[BB]]
// CHECK: %[[EMPTY:.+]] = arith.cmpi eq, %[[LEN]], %{{.+}} : index
// CHECK: %[[FINAL:.+]] = scf.if %[[EMPTY]]
// CHECK-NEXT: scf.yield %[[H0]]
// CHECK: %[[LAST:.+]] = arith.subi %[[LEN]], %{{.+}}
// CHECK: tensor.extract_slice %[[R]]#1[%[[LAST]], 0] [1, 4] [1, 1]
// CHECK: %[[Y:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x4xf32>) {
// CHECK-NEXT: ^bb0(%[[T2:[^:]+]]: index):
// CHECK: %[[HT:.+]] = tensor.extract_slice %[[R]]#1[%[[T2]], 0] [1, 4] [1, 1]
// CHECK: linalg.generic {{.+}} ins(%[[HT]] : tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: return %[[FINAL]], %[[Y]]
// The map of the next case that reads h0 at every step:
// CHECK: #[[$DROP:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
func.func @diagonal(%len: index, %as: tensor<?x4xf32>, %xs: tensor<?x4xf32>)
    -> (tensor<4xf32>, tensor<?x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4xf32>
  %h0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4xf32>) -> tensor<4xf32>
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal): parallel scan}}
  %h, %ys = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [0]
      -> (tensor<4xf32>, tensor<?x4xf32>) {
  ^bb0(%t: index, %hc: tensor<4xf32> loc("h")):
    %a = tensor.extract_slice %as[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %x = tensor.extract_slice %xs[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %e = tensor.empty() : tensor<4xf32>
    %ah = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%a, %hc : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      linalg.yield %m : f32
    } -> tensor<4xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%ah, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %s = arith.addf %p, %q : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%hn : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%p: f32, %o: f32):
      %s = arith.mulf %p, %p : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    seq.yield %hn, %y : tensor<4xf32>, tensor<4xf32>
  }
  return %h, %ys : tensor<4xf32>, tensor<?x4xf32>
}

// -----

// Tests a reverse scan with a non-zero initial carry, a coefficient
// broadcast along a row (h = (h - x[t]) * g / 2 with g: tensor<3xf32>), and
// an output that reads the old carry: the states are A ⊙ h0 + B, the final
// carry is the state at step 0, and the old carry at step t is the state at
// t + 1 (h0 at the last step).
// CHECK-LABEL: func.func @reverse
// CHECK-SAME: (%[[H0:.+]]: tensor<2x3xf32>, %[[XS:.+]]: tensor<5x2x3xf32>, %[[G:.+]]: tensor<3xf32>)
// CHECK: %[[C:.+]]:2 = seq.scan reverse %{{.+}} output_axes = [0, 0] -> (tensor<5x2x3xf32>, tensor<5x2x3xf32>)
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %[[G]] : tensor<2x3xf32>, tensor<3xf32>)
// CHECK-NEXT: ^bb0(%[[X:[^:]+]]: f32, %[[GI:[^:]+]]: f32,
// CHECK-NEXT: %[[NX:.+]] = arith.negf %[[X]]
// CHECK-NEXT: %[[NXG:.+]] = arith.mulf %[[NX]], %[[GI]]
// CHECK-NEXT: %[[A:.+]] = arith.divf %[[GI]], %[[TWO:.+]] : f32
// CHECK-NEXT: %[[B:.+]] = arith.divf %[[NXG]], %[[TWO]]
// CHECK-NEXT: linalg.yield %[[A]], %[[B]]
// CHECK: %[[R:.+]]:2 = seq.assoc_scan reverse axis = 0 (%[[C]]#0, %[[C]]#1)
// CHECK: %[[H:.+]] = linalg.generic {indexing_maps = [#{{.+}}, #[[$DROP]], #{{.+}}, #{{.+}}], {{.+}} ins(%[[R]]#0, %[[H0]], %[[R]]#1 :
// CHECK-NEXT: ^bb0(%[[SA:[^:]+]]: f32, %[[SH:[^:]+]]: f32, %[[SB:[^:]+]]: f32,
// CHECK-NEXT: %[[AH:.+]] = arith.mulf %[[SA]], %[[SH]]
// CHECK-NEXT: %[[NEW:.+]] = arith.addf %[[AH]], %[[SB]]
// CHECK-NEXT: linalg.yield %[[NEW]]
// CHECK: %[[C0:.+]] = arith.constant 0 : index
// CHECK-NEXT: %[[FINAL:.+]] = tensor.extract_slice %[[H]][%[[C0]], 0, 0] [1, 2, 3]
// CHECK: %[[Y:.+]] = seq.scan reverse %{{.+}} output_axes = [0] -> (tensor<5x2x3xf32>)
// CHECK-NEXT: ^bb0(%[[T:[^:]+]]: index):
// CHECK: %[[NEXT:.+]] = arith.addi %[[T]], %{{.+}}
// CHECK: %[[ISLAST:.+]] = arith.cmpi eq, %[[T]]
// CHECK: scf.if %[[ISLAST]]
// CHECK-NEXT: scf.yield %[[H0]]
// CHECK: tensor.extract_slice %[[H]][%[[NEXT]], 0, 0]
// CHECK: return %[[FINAL]], %[[Y]]
func.func @reverse(%h0: tensor<2x3xf32>, %xs: tensor<5x2x3xf32>, %g: tensor<3xf32>)
    -> (tensor<2x3xf32>, tensor<5x2x3xf32>) {
  %len = arith.constant 5 : index
  %two = arith.constant 2.0 : f32
  // expected-remark@+1 {{recurrence of carry 'h' is affine (diagonal): parallel scan}}
  %h, %ys = seq.scan reverse %len carry(%h0 : tensor<2x3xf32>) output_axes = [0]
      -> (tensor<2x3xf32>, tensor<5x2x3xf32>) {
  ^bb0(%t: index, %hc: tensor<2x3xf32> loc("h")):
    %x = tensor.extract_slice %xs[%t, 0, 0] [1, 2, 3] [1, 1, 1] : tensor<5x2x3xf32> to tensor<2x3xf32>
    %e = tensor.empty() : tensor<2x3xf32>
    %hn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%hc, %x, %g : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
    ^bb0(%p: f32, %q: f32, %r: f32, %o: f32):
      %d = arith.subf %p, %q : f32
      %m = arith.mulf %d, %r : f32
      %s = arith.divf %m, %two : f32
      linalg.yield %s : f32
    } -> tensor<2x3xf32>
    seq.yield %hn, %hc : tensor<2x3xf32>, tensor<2x3xf32>
  }
  return %h, %ys : tensor<2x3xf32>, tensor<5x2x3xf32>
}

// -----

// Tests that a carry through tanh stays a sequential scan, with a remark
// naming the expression and its location.
// CHECK-LABEL: func.func @tanh
// CHECK: seq.scan %{{.+}} carry(
// CHECK: math.tanh
// CHECK-NOT: seq.assoc_scan
func.func @tanh(%len: index, %h0: tensor<4xf32>, %xs: tensor<?x4xf32>) -> tensor<4xf32> {
  // expected-remark@+1 {{scan stays sequential: carry 'c' is not affine in the carries: `tanh` at lstm.seq:19:9}}
  %h = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = []
      -> (tensor<4xf32>) {
  ^bb0(%t: index, %c: tensor<4xf32> loc("c")):
    %x = tensor.extract_slice %xs[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %e = tensor.empty() : tensor<4xf32>
    %s = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%c, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %a = arith.addf %p, %q : f32
      linalg.yield %a : f32
    } -> tensor<4xf32> loc("lstm.seq":19:14)
    %n = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%s : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%p: f32, %o: f32):
      %a = math.tanh %p : f32
      linalg.yield %a : f32
    } -> tensor<4xf32> loc("lstm.seq":19:9)
    seq.yield %n : tensor<4xf32>
  }
  return %h : tensor<4xf32>
}

// -----

// Tests that a state updated through a contraction (S = S @ M + N) is
// recognised as affine but left sequential.
// CHECK-LABEL: func.func @contraction
// CHECK: seq.scan %{{.+}} carry(
// CHECK: linalg.matmul
// CHECK-NOT: seq.assoc_scan
func.func @contraction(%len: index, %s0: tensor<4x4xf32>, %m: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-remark@+1 {{scan stays sequential: carry 'S' is affine through a contraction, which has no parallel form here yet}}
  %s = seq.scan %len carry(%s0 : tensor<4x4xf32>) output_axes = []
      -> (tensor<4x4xf32>) {
  ^bb0(%t: index, %sc: tensor<4x4xf32> loc("S")):
    %e = tensor.empty() : tensor<4x4xf32>
    %p = linalg.matmul ins(%sc, %m : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
    seq.yield %p : tensor<4x4xf32>
  }
  return %s : tensor<4x4xf32>
}

// -----

// Tests that the product of two carry-dependent values is named, and that
// a carry whose update reads another carry affinely is reported as coupled.
// CHECK-LABEL: func.func @product_and_coupled
// CHECK: seq.scan %{{.+}} carry(
// CHECK: arith.mulf
// CHECK-NOT: seq.assoc_scan
func.func @product_and_coupled(%len: index, %h0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  // expected-remark@+2 {{scan stays sequential: carry 'p' is not affine in the carries: `*` of two carry-dependent values at f.seq:2:11}}
  // expected-remark@+1 {{scan stays sequential: carry 'q' is affine but reads carry 'p' as well, which has no parallel form here yet}}
  %p, %q = seq.scan %len carry(%h0, %h0 : tensor<4xf32>, tensor<4xf32>) output_axes = []
      -> (tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%t: index, %pc: tensor<4xf32> loc("p"), %qc: tensor<4xf32> loc("q")):
    %e = tensor.empty() : tensor<4xf32>
    %sq = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%pc : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %a : f32
      linalg.yield %m : f32
    } -> tensor<4xf32> loc("f.seq":2:11)
    %sum = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%pc, %qc : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    seq.yield %sq, %sum : tensor<4xf32>, tensor<4xf32>
  }
  return %p, %q : tensor<4xf32>, tensor<4xf32>
}

// -----

// Tests that a running max with a sum rescaled by it (Aaren's online
// softmax: m' = max(m, s), d' = d * exp(m - m') + exp(s - m')) is
// recognised as the online-softmax monoid, but left sequential when the
// carries do not start at its identity (-inf, 0).
// CHECK-LABEL: func.func @online_softmax
// CHECK: seq.scan %{{.+}} carry(
// CHECK: arith.maximumf
// CHECK-NOT: seq.assoc_scan
// The map of the next case that broadcasts the max along the sum's rows:
// CHECK: #[[$ROWS:map[0-9]*]] = affine_map<(d0, d1) -> (d0)>
func.func @online_softmax(%len: index, %m0: tensor<4xf32>, %d0: tensor<4xf32>, %ss: tensor<?x4xf32>)
    -> (tensor<4xf32>, tensor<4xf32>) {
  // expected-remark@+1 {{scan stays sequential: carry 'm' is the running max of an online softmax, but the carries do not start at -inf and 0}}
  %m, %d = seq.scan %len carry(%m0, %d0 : tensor<4xf32>, tensor<4xf32>) output_axes = []
      -> (tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%t: index, %mc: tensor<4xf32> loc("m"), %dc: tensor<4xf32> loc("d")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %e = tensor.empty() : tensor<4xf32>
    %mn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%mc, %s : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.maximumf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %dm = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%mc, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.subf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%dm : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %x = math.exp %a : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %sm = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%s, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.subf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %p = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%sm : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %x = math.exp %a : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %dr = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%dc, %r : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.mulf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %dn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%dr, %p : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.addf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    seq.yield %mn, %dn : tensor<4xf32>, tensor<4xf32>
  }
  return %m, %d : tensor<4xf32>, tensor<4xf32>
}

// -----

// Tests that an online softmax from (-inf, 0) whose sum has more dims than
// the max (n: [4, 2] rescaled by exp(m - m') broadcast through a unit
// expand_shape, weighted by v) becomes a scan of the elements (s, v), one
// assoc_scan of a max and a sum of different shapes whose combiner rescales
// both sides (0 for a side whose max is -inf), and the states.
// CHECK-LABEL: func.func @online_softmax_sums
// CHECK-SAME: (%[[LEN:.+]]: index, %[[SS:.+]]: tensor<?x4xf32>, %[[VS:.+]]: tensor<?x4x2xf32>)
// CHECK: %[[M0:.+]] = linalg.fill
// CHECK: %[[N0:.+]] = linalg.fill
// CHECK: %[[E:.+]]:2 = seq.scan %[[LEN]] output_axes = [0, 0] -> (tensor<?x4xf32>, tensor<?x4x2xf32>) {
// CHECK-NEXT: ^bb0(%[[T:.+]]: index):
// CHECK-NEXT: %[[S:.+]] = tensor.extract_slice %[[SS]][%[[T]], 0]
// CHECK-NEXT: %[[V:.+]] = tensor.extract_slice %[[VS]][%[[T]], 0, 0]
// CHECK: %[[W:.+]] = linalg.generic {{.+}} ins(%[[V]] : tensor<4x2xf32>)
// CHECK: seq.yield %[[S]], %[[W]] : tensor<4xf32>, tensor<4x2xf32>
// CHECK: %[[R:.+]]:2 = seq.assoc_scan axis = 0 (%[[E]]#0, %[[E]]#1) : tensor<?x4xf32>, tensor<?x4x2xf32> {
// CHECK-NEXT: ^bb0(%[[M1:[^:]+]]: tensor<4xf32>, %[[N1:[^:]+]]: tensor<4x2xf32>, %[[M2:[^:]+]]: tensor<4xf32>, %[[N2:[^:]+]]: tensor<4x2xf32>):
// CHECK: %[[MX:.+]] = linalg.generic {{.+}} ins(%[[M1]], %[[M2]] :
// CHECK: arith.maximumf
// CHECK: %[[NS:.+]] = linalg.generic {indexing_maps = [#{{.+}}, #{{.+}}, #[[$ROWS]], #[[$ROWS]], #[[$ROWS]], #{{.+}}], {{.+}} ins(%[[N1]], %[[N2]], %[[M1]], %[[M2]], %[[MX]] :
// CHECK-NEXT: ^bb0(%[[SN1:[^:]+]]: f32, %[[SN2:[^:]+]]: f32, %[[SM1:[^:]+]]: f32, %[[SM2:[^:]+]]: f32, %[[SMX:[^:]+]]: f32,
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.0
// CHECK-NEXT: %[[D1:.+]] = arith.subf %[[SM1]], %[[SMX]]
// CHECK-NEXT: %[[X1:.+]] = math.exp %[[D1]]
// CHECK-NEXT: %[[I1:.+]] = arith.cmpf oeq, %[[SM1]], %[[NINF]]
// CHECK-NEXT: %[[F1:.+]] = arith.select %[[I1]], %[[ZERO]], %[[X1]]
// CHECK-NEXT: %[[P1:.+]] = arith.mulf %[[SN1]], %[[F1]]
// CHECK-NEXT: %[[D2:.+]] = arith.subf %[[SM2]], %[[SMX]]
// CHECK-NEXT: %[[X2:.+]] = math.exp %[[D2]]
// CHECK-NEXT: %[[I2:.+]] = arith.cmpf oeq, %[[SM2]], %[[NINF]]
// CHECK-NEXT: %[[F2:.+]] = arith.select %[[I2]], %[[ZERO]], %[[X2]]
// CHECK-NEXT: %[[P2:.+]] = arith.mulf %[[SN2]], %[[F2]]
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[P1]], %[[P2]]
// CHECK-NEXT: linalg.yield %[[SUM]]
// CHECK: seq.yield %[[MX]], %[[NS]] : tensor<4xf32>, tensor<4x2xf32>
// CHECK: %[[MF:.+]] = scf.if
// CHECK-NEXT: scf.yield %[[M0]]
// CHECK: tensor.extract_slice %[[R]]#0
// CHECK: %[[NF:.+]] = scf.if
// CHECK-NEXT: scf.yield %[[N0]]
// CHECK: tensor.extract_slice %[[R]]#1
// CHECK: %[[OS:.+]] = seq.scan %[[LEN]] output_axes = [0] -> (tensor<?x4x2xf32>) {
// CHECK-NEXT: ^bb0(%[[T2:.+]]: index):
// CHECK-NEXT: %[[O:.+]] = tensor.extract_slice %[[R]]#1[%[[T2]], 0, 0] [1, 4, 2] [1, 1, 1]
// CHECK-NEXT: seq.yield %[[O]]
// CHECK: return %[[MF]], %[[NF]], %[[OS]]
func.func @online_softmax_sums(%len: index, %ss: tensor<?x4xf32>, %vs: tensor<?x4x2xf32>)
    -> (tensor<4xf32>, tensor<4x2xf32>, tensor<?x4x2xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<4xf32>
  %e42 = tensor.empty() : tensor<4x2xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  %n0 = linalg.fill ins(%zero : f32) outs(%e42 : tensor<4x2xf32>) -> tensor<4x2xf32>
  // expected-remark@+1 {{carries 'm', 'n' are an online softmax (running max 'm' and rescaled sums): parallel scan}}
  %m, %n, %os = seq.scan %len carry(%m0, %n0 : tensor<4xf32>, tensor<4x2xf32>) output_axes = [0]
      -> (tensor<4xf32>, tensor<4x2xf32>, tensor<?x4x2xf32>) {
  ^bb0(%t: index, %mc: tensor<4xf32> loc("m"), %nc: tensor<4x2xf32> loc("n")):
    %s = tensor.extract_slice %ss[%t, 0] [1, 4] [1, 1] : tensor<?x4xf32> to tensor<4xf32>
    %v = tensor.extract_slice %vs[%t, 0, 0] [1, 4, 2] [1, 1, 1] : tensor<?x4x2xf32> to tensor<4x2xf32>
    %e = tensor.empty() : tensor<4xf32>
    %e2 = tensor.empty() : tensor<4x2xf32>
    %mn = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%mc, %s : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.maximumf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %dm = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%mc, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.subf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%dm : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %x = math.exp %a : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %r2 = tensor.expand_shape %r [[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
    %nr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%nc, %r2 : tensor<4x2xf32>, tensor<4x1xf32>) outs(%e2 : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.mulf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4x2xf32>
    %sm = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%s, %mn : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.subf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %p = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
        ins(%sm : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %o: f32):
      %x = math.exp %a : f32
      linalg.yield %x : f32
    } -> tensor<4xf32>
    %p2 = tensor.expand_shape %p [[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
    %vp = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%v, %p2 : tensor<4x2xf32>, tensor<4x1xf32>) outs(%e2 : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.mulf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4x2xf32>
    %nn = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
        ins(%nr, %vp : tensor<4x2xf32>, tensor<4x2xf32>) outs(%e2 : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %x = arith.addf %a, %b : f32
      linalg.yield %x : f32
    } -> tensor<4x2xf32>
    seq.yield %mn, %nn, %nn : tensor<4xf32>, tensor<4x2xf32>, tensor<4x2xf32>
  }
  return %m, %n, %os : tensor<4xf32>, tensor<4x2xf32>, tensor<?x4x2xf32>
}
