// RUN: seq-opt %s | seq-opt | FileCheck %s
// RUN: seq-opt %s --mlir-print-op-generic | seq-opt | FileCheck %s

// Tests that a scan with two carries and two per-step outputs at different
// axes round-trips.
// CHECK-LABEL: func.func @scan
// CHECK-SAME: (%[[LEN:.+]]: index, %[[H0:.+]]: tensor<4xf32>, %[[M0:.+]]: tensor<f32>)
func.func @scan(%len: index, %h0: tensor<4xf32>, %m0: tensor<f32>)
    -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>) {
  // CHECK: %[[R:.+]]:4 = seq.scan %[[LEN]] carry(%[[H0]], %[[M0]] : tensor<4xf32>, tensor<f32>) output_axes = [0, 1] -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>) {
  // CHECK-NEXT: ^bb0(%[[T:.+]]: index, %[[H:.+]]: tensor<4xf32>, %[[M:.+]]: tensor<f32>):
  // CHECK-NEXT: seq.yield %[[H]], %[[M]], %[[H]], %[[H]] : tensor<4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>
  %r:4 = seq.scan %len carry(%h0, %m0 : tensor<4xf32>, tensor<f32>) output_axes = [0, 1]
      -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>, %m: tensor<f32>):
    seq.yield %h, %m, %h, %h : tensor<4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>
  }
  return %r#0, %r#1, %r#2, %r#3 : tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>
}

// Tests that a reverse scan over a constant length, with a static time
// dimension and no carries, round-trips.
// CHECK-LABEL: func.func @reverse_static
// CHECK: %[[C8:.+]] = arith.constant 8 : index
// CHECK: seq.scan reverse %[[C8]] output_axes = [1] -> (tensor<2x8xf32>) {
func.func @reverse_static(%x: tensor<2xf32>) -> tensor<2x8xf32> {
  %c8 = arith.constant 8 : index
  %r = seq.scan reverse %c8 output_axes = [1] -> (tensor<2x8xf32>) {
  ^bb0(%t: index):
    seq.yield %x : tensor<2xf32>
  }
  return %r : tensor<2x8xf32>
}

// Tests that a scan with carries only (no per-step outputs) round-trips.
// CHECK-LABEL: func.func @carries_only
// CHECK: seq.scan %{{.+}} carry(%{{.+}} : tensor<3xi64>) output_axes = [] -> (tensor<3xi64>)
func.func @carries_only(%len: index, %c: tensor<3xi64>) -> tensor<3xi64> {
  %r = seq.scan %len carry(%c : tensor<3xi64>) output_axes = [] -> (tensor<3xi64>) {
  ^bb0(%t: index, %v: tensor<3xi64>):
    seq.yield %v : tensor<3xi64>
  }
  return %r : tensor<3xi64>
}

// Tests that an associative scan of two inputs (the affine pair monoid)
// round-trips.
// CHECK-LABEL: func.func @assoc_scan
// CHECK-SAME: (%[[A:.+]]: tensor<4x?xf32>, %[[B:.+]]: tensor<4x?xf32>)
// CHECK: %[[R:.+]]:2 = seq.assoc_scan axis = 1 (%[[A]], %[[B]]) : tensor<4x?xf32>, tensor<4x?xf32> {
// CHECK-NEXT: ^bb0(%[[A1:.+]]: tensor<4xf32>, %[[B1:.+]]: tensor<4xf32>, %[[A2:.+]]: tensor<4xf32>, %[[B2:.+]]: tensor<4xf32>):
// CHECK: %[[AN:.+]] = linalg.mul ins(%[[A1]], %[[A2]]
// CHECK: %[[P:.+]] = linalg.mul ins(%[[A2]], %[[B1]]
// CHECK: %[[BN:.+]] = linalg.add ins(%[[P]], %[[B2]]
// CHECK: seq.yield %[[AN]], %[[BN]] : tensor<4xf32>, tensor<4xf32>
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @assoc_scan(%a: tensor<4x?xf32>, %b: tensor<4x?xf32>) -> (tensor<4x?xf32>, tensor<4x?xf32>) {
  %r:2 = seq.assoc_scan axis = 1 (%a, %b) : tensor<4x?xf32>, tensor<4x?xf32> {
  ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
    %e = tensor.empty() : tensor<4xf32>
    %an = linalg.mul ins(%a1, %a2 : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
    %p = linalg.mul ins(%a2, %b1 : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
    %bn = linalg.add ins(%p, %b2 : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
    seq.yield %an, %bn : tensor<4xf32>, tensor<4xf32>
  }
  return %r#0, %r#1 : tensor<4x?xf32>, tensor<4x?xf32>
}

// Tests that a reverse associative scan of one rank-1 input (slices are
// rank 0) round-trips.
// CHECK-LABEL: func.func @assoc_scan_reverse
// CHECK: seq.assoc_scan reverse axis = 0 (%{{.+}}) : tensor<?xi32> {
// CHECK-NEXT: ^bb0(%{{.+}}: tensor<i32>, %{{.+}}: tensor<i32>):
func.func @assoc_scan_reverse(%x: tensor<?xi32>) -> tensor<?xi32> {
  %r = seq.assoc_scan reverse axis = 0 (%x) : tensor<?xi32> {
  ^bb0(%p: tensor<i32>, %q: tensor<i32>):
    seq.yield %q : tensor<i32>
  }
  return %r : tensor<?xi32>
}

// Tests that an associative scan of inputs of different shapes but one
// length along the axis (a running max and a sum with one more dim)
// round-trips.
// CHECK-LABEL: func.func @assoc_scan_shapes
// CHECK: seq.assoc_scan axis = 0 (%{{.+}}, %{{.+}}) : tensor<?x4xf32>, tensor<?x4x2xf32> {
// CHECK-NEXT: ^bb0(%{{.+}}: tensor<4xf32>, %{{.+}}: tensor<4x2xf32>, %{{.+}}: tensor<4xf32>, %{{.+}}: tensor<4x2xf32>):
func.func @assoc_scan_shapes(%m: tensor<?x4xf32>, %n: tensor<?x4x2xf32>) -> (tensor<?x4xf32>, tensor<?x4x2xf32>) {
  %r:2 = seq.assoc_scan axis = 0 (%m, %n) : tensor<?x4xf32>, tensor<?x4x2xf32> {
  ^bb0(%m1: tensor<4xf32>, %n1: tensor<4x2xf32>, %m2: tensor<4xf32>, %n2: tensor<4x2xf32>):
    seq.yield %m2, %n2 : tensor<4xf32>, tensor<4x2xf32>
  }
  return %r#0, %r#1 : tensor<?x4xf32>, tensor<?x4x2xf32>
}

// Tests that softmax on f32 and bf16 round-trips.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[S:.+]]: tensor<2x?x?xf32>, %[[V:.+]]: tensor<8xbf16>)
// CHECK: seq.softmax %[[S]] {axis = 2 : i64} : tensor<2x?x?xf32> -> tensor<2x?x?xf32>
// CHECK: seq.softmax %[[V]] {axis = 0 : i64} : tensor<8xbf16> -> tensor<8xbf16>
func.func @softmax(%s: tensor<2x?x?xf32>, %v: tensor<8xbf16>) -> (tensor<2x?x?xf32>, tensor<8xbf16>) {
  %p = seq.softmax %s {axis = 2 : i64} : tensor<2x?x?xf32> -> tensor<2x?x?xf32>
  %q = seq.softmax %v {axis = 0 : i64} : tensor<8xbf16> -> tensor<8xbf16>
  return %p, %q : tensor<2x?x?xf32>, tensor<8xbf16>
}

// Tests that causal GQA attention with a scale, a mask and a soft-capping
// score region round-trips.
// CHECK-LABEL: func.func @attention_gqa_causal
// CHECK: seq.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<?x2x4x?x64xf32>, tensor<?x2x1x?x64xf32>, tensor<?x2x1x?x32xf32>) outs(%{{.+}} : tensor<?x2x4x?x32xf32>) scale = 1.250000e-01 mask = [1, -1, 0] -> tensor<?x2x4x?x32xf32> {
// CHECK-NEXT: ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index, %{{.+}}: index):
// CHECK: math.tanh
// CHECK: seq.yield %{{.+}} : f32
func.func @attention_gqa_causal(%q: tensor<?x2x4x?x64xf32>, %k: tensor<?x2x1x?x64xf32>,
                                %v: tensor<?x2x1x?x32xf32>, %o: tensor<?x2x4x?x32xf32>) -> tensor<?x2x4x?x32xf32> {
  %r = seq.attention ins(%q, %k, %v : tensor<?x2x4x?x64xf32>, tensor<?x2x1x?x64xf32>, tensor<?x2x1x?x32xf32>)
                     outs(%o : tensor<?x2x4x?x32xf32>) scale = 0.125 mask = [1, -1, 0]
                     -> tensor<?x2x4x?x32xf32> {
  ^bb0(%s: f32, %b: index, %kv: index, %g: index, %i: index, %j: index):
    %c = arith.constant 30.0 : f32
    %x = arith.divf %s, %c : f32
    %t = math.tanh %x : f32
    %y = arith.mulf %t, %c : f32
    seq.yield %y : f32
  }
  return %r : tensor<?x2x4x?x32xf32>
}

// Tests that cross attention without batch axes, scale or mask (query and
// key lengths differ) round-trips.
// CHECK-LABEL: func.func @attention_plain
// CHECK: seq.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<5x16xbf16>, tensor<?x16xbf16>, tensor<?x8xbf16>) outs(%{{.+}} : tensor<5x8xbf16>) -> tensor<5x8xbf16> {
func.func @attention_plain(%q: tensor<5x16xbf16>, %k: tensor<?x16xbf16>, %v: tensor<?x8xbf16>,
                           %o: tensor<5x8xbf16>) -> tensor<5x8xbf16> {
  %r = seq.attention ins(%q, %k, %v : tensor<5x16xbf16>, tensor<?x16xbf16>, tensor<?x8xbf16>)
                     outs(%o : tensor<5x8xbf16>) -> tensor<5x8xbf16> {
  ^bb0(%s: f32, %i: index, %j: index):
    seq.yield %s : f32
  }
  return %r : tensor<5x8xbf16>
}
