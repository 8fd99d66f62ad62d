// RUN: seq-opt %s --split-input-file --seq-derive-step --verify-diagnostics | FileCheck %s

// The functions are Inputs/derive-step.seq after MLIRGen, cse and
// seq-fuse-attention (seqc --emit=seq --mlir-print-debuginfo, then seq-opt
// --cse --seq-fuse-attention --mlir-print-local-scope), one per split, the
// entry's own location dropped so that its remark lands here.

// -----

// Tests that a scan over time starts from the state (its own initial value
// at position 0), leaves its final carry there, and that a position used as
// a number (`arange(T)`) counts from the state's position.
// CHECK-LABEL: func.func @carried_step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x4xf32> {seq.input = "x"}, %[[POS:[a-z0-9]+]]: tensor<i64> {seq.position}, %[[H:[a-z0-9]+]]: tensor<?x?xf32> {seq.state = "h.0"})
// CHECK-SAME: -> (tensor<?x?x4xf32> {seq.output = "out"}, tensor<?x?xf32> {seq.state = "h.0"})
// CHECK-SAME: seq.step_of = "carried", seq.time_axis = array<i64: 0, 1>
// CHECK: %[[P64:[a-z0-9_]+]] = tensor.extract %[[POS]][]
// CHECK: %[[P:[a-z0-9_]+]] = arith.index_cast %[[P64]] : i64 to index
// CHECK: %[[FIRST:[a-z0-9_]+]] = arith.cmpi eq, %[[P]], %{{.+}} : index
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[X]], %c1
// CHECK: %[[H0:[a-z0-9_]+]] = linalg.fill
// CHECK: %[[INIT:[a-z0-9_]+]] = scf.if %[[FIRST]] -> (tensor<?x4xf32>) {
// CHECK-NEXT: scf.yield %[[H0]]
// CHECK-NEXT: } else {
// CHECK-NEXT: %[[C:[a-z0-9_]+]] = tensor.cast %[[H]] : tensor<?x?xf32> to tensor<?x4xf32>
// CHECK-NEXT: scf.yield %[[C]]
// CHECK: %[[S:[a-z0-9_]+]]:2 = seq.scan %[[T]] carry(%[[INIT]] : tensor<?x4xf32>)
// CHECK: %[[I:[a-z0-9_]+]] = linalg.index 0 : index
// CHECK-NEXT: %[[IP:[a-z0-9_]+]] = arith.addi %[[I]], %[[P]] : index
// CHECK-NEXT: arith.index_cast %[[IP]] : index to i64
// CHECK: %[[HN:[a-z0-9_]+]] = tensor.cast %[[S]]#0 : tensor<?x4xf32> to tensor<?x?xf32>
// CHECK: return %{{.+}}, %[[HN]]
// expected-remark@+1 {{step form 'carried_step' carries 1 scan carry}}
func.func @carried(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":5:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":5:14)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":5:14)
  %c1 = arith.constant 1 : index loc("derive-step.seq":5:14)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":5:14)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":7:38)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":7:38)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":7:38)
  %2:2 = seq.scan %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [1] -> (tensor<?x4xf32>, tensor<?x?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":7:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":7:5))):
    %cst_1 = arith.constant dense<5.000000e-01> : tensor<f32> loc("derive-step.seq":8:11)
    %9 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_1, %arg2 : tensor<f32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("derive-step.seq":8:11), %in_2: f32 loc("h"("derive-step.seq":7:5)), %out: f32 loc("derive-step.seq":8:15)):
      %11 = arith.mulf %in, %in_2 : f32 loc("derive-step.seq":8:15)
      linalg.yield %11 : f32 loc("derive-step.seq":8:15)
    } -> tensor<?x4xf32> loc("derive-step.seq":8:15)
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":8:22)
    %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%9, %extracted_slice : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("derive-step.seq":8:15), %in_2: f32 loc("derive-step.seq":8:22), %out: f32 loc("derive-step.seq":8:19)):
      %11 = arith.addf %in, %in_2 : f32 loc("derive-step.seq":8:19)
      linalg.yield %11 : f32 loc("derive-step.seq":8:19)
    } -> tensor<?x4xf32> loc("derive-step.seq":8:19)
    seq.yield %10, %10 : tensor<?x4xf32>, tensor<?x4xf32> loc("derive-step.seq":7:5)
  } loc("derive-step.seq":7:5)
  %3 = tensor.empty(%dim_0) : tensor<?xi64> loc("derive-step.seq":6:14)
  %4 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%3 : tensor<?xi64>) {
  ^bb0(%out: i64 loc("derive-step.seq":6:14)):
    %9 = linalg.index 0 : index loc("derive-step.seq":6:14)
    %10 = arith.index_cast %9 : index to i64 loc("derive-step.seq":6:14)
    linalg.yield %10 : i64 loc("derive-step.seq":6:14)
  } -> tensor<?xi64> loc("derive-step.seq":6:14)
  %5 = tensor.empty(%dim_0) : tensor<?xf32> loc("derive-step.seq":6:9)
  %6 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%4 : tensor<?xi64>) outs(%5 : tensor<?xf32>) {
  ^bb0(%in: i64 loc("derive-step.seq":6:14), %out: f32 loc("derive-step.seq":6:9)):
    %9 = arith.sitofp %in : i64 to f32 loc("derive-step.seq":6:9)
    linalg.yield %9 : f32 loc("derive-step.seq":6:9)
  } -> tensor<?xf32> loc("derive-step.seq":6:9)
  %expanded = tensor.expand_shape %6 [[0, 1, 2]] output_shape [1, %dim_0, 1] : tensor<?xf32> into tensor<1x?x1xf32> loc("derive-step.seq":11:17)
  %7 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":11:14)
  %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (0, d1, 0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%2#1, %expanded : tensor<?x?x4xf32>, tensor<1x?x1xf32>) outs(%7 : tensor<?x?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":7:5), %in_1: f32 loc("derive-step.seq":11:17), %out: f32 loc("derive-step.seq":11:14)):
    %9 = arith.mulf %in, %in_1 : f32 loc("derive-step.seq":11:14)
    linalg.yield %9 : f32 loc("derive-step.seq":11:14)
  } -> tensor<?x?x4xf32> loc("derive-step.seq":11:14)
  return %8 : tensor<?x?x4xf32> loc("derive-step.seq":5:6)
}

// -----

// Tests that a sequence padded in front along time gets the previous chunk's
// last rows instead of its padding: a causal convolution's window
// (`concat([zeros(2), x])` read through windows of length T) and a token
// shift (`concat([zeros(1), x[0:T-1]])`).
// CHECK-LABEL: func.func @window_step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x4xf32> {seq.input = "x"}, %{{[a-z0-9]+}}: tensor<i64> {seq.position}, %[[W0:[a-z0-9]+]]: tensor<?x?x?xf32> {seq.state = "window.0"}, %[[W1:[a-z0-9]+]]: tensor<?x?x?xf32> {seq.state = "window.1"})
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[X]], %c1
// CHECK: %[[P0:[a-z0-9_]+]] = scf.if
// CHECK: tensor.cast %[[W0]] : tensor<?x?x?xf32> to tensor<?x2x4xf32>
// CHECK: %[[E0:[a-z0-9_]+]] = tensor.concat dim(1) %[[P0]], %[[X]]
// CHECK: %[[N0:[a-z0-9_]+]] = tensor.extract_slice %[[E0]][0, %[[T]], 0] [%{{.+}}, 2, 4] [1, 1, 1]
// CHECK: %[[P1:[a-z0-9_]+]] = scf.if
// CHECK: tensor.cast %[[W1]] : tensor<?x?x?xf32> to tensor<?x1x4xf32>
// CHECK: %[[E1:[a-z0-9_]+]] = tensor.concat dim(1) %[[P1]], %[[X]]
// CHECK: %[[N1:[a-z0-9_]+]] = tensor.extract_slice %[[E1]][0, %[[T]], 0] [%{{.+}}, 1, 4] [1, 1, 1]
// CHECK: tensor.extract_slice %[[E1]][0, 0, 0] [%{{.+}}, %[[T]], 4] [1, 1, 1]
// CHECK: return
// expected-remark@+1 {{step form 'window_step' carries 2 windows of past inputs}}
func.func @window(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":14:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":14:13)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":14:13)
  %c1 = arith.constant 1 : index loc("derive-step.seq":14:13)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":14:13)
  %c-1 = arith.constant -1 : index loc("derive-step.seq":14:6)
  %0 = arith.addi %c-1, %dim_0 : index loc("derive-step.seq":14:6)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":15:18)
  %1 = tensor.empty(%dim) : tensor<?x2x4xf32> loc("derive-step.seq":15:18)
  %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<?x2x4xf32>) -> tensor<?x2x4xf32> loc("derive-step.seq":15:18)
  %concat = tensor.concat dim(1) %2, %arg0 : (tensor<?x2x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32> loc("derive-step.seq":15:10)
  %extracted_slice = tensor.extract_slice %concat[0, 0, 0] [%dim, %dim_0, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x?x4xf32> loc("derive-step.seq":17:14)
  %extracted_slice_1 = tensor.extract_slice %concat[0, 2, 0] [%dim, %dim_0, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x?x4xf32> loc("derive-step.seq":17:27)
  %3 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":17:23)
  %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%extracted_slice, %extracted_slice_1 : tensor<?x?x4xf32>, tensor<?x?x4xf32>) outs(%3 : tensor<?x?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":17:14), %in_4: f32 loc("derive-step.seq":17:27), %out: f32 loc("derive-step.seq":17:23)):
    %8 = arith.addf %in, %in_4 : f32 loc("derive-step.seq":17:23)
    linalg.yield %8 : f32 loc("derive-step.seq":17:23)
  } -> tensor<?x?x4xf32> loc("derive-step.seq":17:23)
  %5 = tensor.empty(%dim) : tensor<?x1x4xf32> loc("derive-step.seq":16:17)
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<?x1x4xf32>) -> tensor<?x1x4xf32> loc("derive-step.seq":16:17)
  %extracted_slice_2 = tensor.extract_slice %arg0[0, 0, 0] [%dim, %0, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x?x4xf32> loc("derive-step.seq":16:36)
  %concat_3 = tensor.concat dim(1) %6, %extracted_slice_2 : (tensor<?x1x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32> loc("derive-step.seq":16:9)
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%4, %concat_3 : tensor<?x?x4xf32>, tensor<?x?x4xf32>) outs(%3 : tensor<?x?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":17:23), %in_4: f32 loc("derive-step.seq":16:9), %out: f32 loc("derive-step.seq":17:40)):
    %8 = arith.addf %in, %in_4 : f32 loc("derive-step.seq":17:40)
    linalg.yield %8 : f32 loc("derive-step.seq":17:40)
  } -> tensor<?x?x4xf32> loc("derive-step.seq":17:40)
  return %7 : tensor<?x?x4xf32> loc("derive-step.seq":14:6)
}

// -----

// Tests that a causal attention appends the chunk's keys and values to a
// cache in the state, attends over all of it, and numbers its queries from
// the state's position.
// CHECK-LABEL: func.func @attend_step(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x?x4xf32> {seq.input = "q"}, %[[K:[a-z0-9]+]]: tensor<?x?x4xf32> {seq.input = "k"}, %[[V:[a-z0-9]+]]: tensor<?x?x4xf32> {seq.input = "v"}, %[[POS:[a-z0-9]+]]: tensor<i64> {seq.position}, %[[KC:[a-z0-9]+]]: tensor<?x?x?xf32> {seq.state = "keys.0"}, %[[VC:[a-z0-9]+]]: tensor<?x?x?xf32> {seq.state = "values.1"})
// CHECK: %[[P:[a-z0-9_]+]] = arith.index_cast
// CHECK: %[[KP:[a-z0-9_]+]] = scf.if
// CHECK: tensor.cast %[[KC]] : tensor<?x?x?xf32> to tensor<?x?x4xf32>
// CHECK: %[[KA:[a-z0-9_]+]] = tensor.concat dim(1) %[[KP]], %[[K]]
// CHECK: %[[VP:[a-z0-9_]+]] = scf.if
// CHECK: tensor.cast %[[VC]] : tensor<?x?x?xf32> to tensor<?x?x4xf32>
// CHECK: %[[VA:[a-z0-9_]+]] = tensor.concat dim(1) %[[VP]], %[[V]]
// CHECK: %[[O:[a-z0-9_]+]] = seq.attention ins(%[[Q]], %[[KA]], %[[VA]] : {{.+}}) outs({{.+}}) offset(%[[P]]) mask = [1, -1, 0]
// CHECK: %[[KN:[a-z0-9_]+]] = tensor.cast %[[KA]] : tensor<?x?x4xf32> to tensor<?x?x?xf32>
// CHECK: %[[VN:[a-z0-9_]+]] = tensor.cast %[[VA]] : tensor<?x?x4xf32> to tensor<?x?x?xf32>
// CHECK: return %[[O]], %[[KN]], %[[VN]]
// expected-remark@+1 {{step form 'attend_step' carries 1 key/value cache}}
func.func @attend(%arg0: tensor<?x?x4xf32> {seq.input = "q"} loc("derive-step.seq":20:6), %arg1: tensor<?x?x4xf32> {seq.input = "k"} loc("derive-step.seq":20:6), %arg2: tensor<?x?x4xf32> {seq.input = "v"} loc("derive-step.seq":20:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""], ["B", "T", ""], ["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":22:12)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":22:12)
  %c1 = arith.constant 1 : index loc("derive-step.seq":22:12)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":22:12)
  %0 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":22:12)
  %1 = seq.attention ins(%arg0, %arg1, %arg2 : tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) outs(%0 : tensor<?x?x4xf32>) mask = [1, -1, 0] -> tensor<?x?x4xf32> {
  ^bb0(%arg3: f32 loc("derive-step.seq":22:12), %arg4: index loc("derive-step.seq":22:12), %arg5: index loc("derive-step.seq":22:12), %arg6: index loc("derive-step.seq":22:12)):
    seq.yield %arg3 : f32 loc("derive-step.seq":22:12)
  } loc("derive-step.seq":22:12)
  return %1 : tensor<?x?x4xf32> loc("derive-step.seq":20:6)
}

// -----

// Tests that a mean over time has no step form.
// CHECK-NOT: func.func @pooled_step
// expected-remark@+1 {{no step form for 'pooled': 'linalg.reduce' at derive-step.seq:30:16 reduces over the time axis}}
func.func @pooled(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":25:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":25:13)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":25:13)
  %c1 = arith.constant 1 : index loc("derive-step.seq":25:13)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":25:13)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":26:38)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":26:38)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":26:38)
  %2:2 = seq.scan %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [1] -> (tensor<?x4xf32>, tensor<?x?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":26:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":26:5))):
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":27:16)
    %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg2, %extracted_slice : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("h"("derive-step.seq":26:5)), %in_1: f32 loc("derive-step.seq":27:16), %out: f32 loc("derive-step.seq":27:13)):
      %9 = arith.addf %in, %in_1 : f32 loc("derive-step.seq":27:13)
      linalg.yield %9 : f32 loc("derive-step.seq":27:13)
    } -> tensor<?x4xf32> loc("derive-step.seq":27:13)
    seq.yield %8, %8 : tensor<?x4xf32>, tensor<?x4xf32> loc("derive-step.seq":26:5)
  } loc("derive-step.seq":26:5)
  %reduced = linalg.reduce { arith.addf } ins(%arg0 : tensor<?x?x4xf32>) outs(%1 : tensor<?x4xf32>) dimensions = [1]  loc("derive-step.seq":30:16)
  %3 = arith.index_cast %dim_0 : index to i64 loc("derive-step.seq":30:16)
  %4 = arith.sitofp %3 : i64 to f32 loc("derive-step.seq":30:16)
  %5 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%reduced : tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":30:16), %out: f32 loc("derive-step.seq":30:16)):
    %8 = arith.divf %in, %4 : f32 loc("derive-step.seq":30:16)
    linalg.yield %8 : f32 loc("derive-step.seq":30:16)
  } -> tensor<?x4xf32> loc("derive-step.seq":30:16)
  %expanded = tensor.expand_shape %5 [[0], [1, 2]] output_shape [%dim, 1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32> loc("derive-step.seq":30:16)
  %6 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":30:14)
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, 0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%2#1, %expanded : tensor<?x?x4xf32>, tensor<?x1x4xf32>) outs(%6 : tensor<?x?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":26:5), %in_1: f32 loc("derive-step.seq":30:16), %out: f32 loc("derive-step.seq":30:14)):
    %8 = arith.subf %in, %in_1 : f32 loc("derive-step.seq":30:14)
    linalg.yield %8 : f32 loc("derive-step.seq":30:14)
  } -> tensor<?x?x4xf32> loc("derive-step.seq":30:14)
  return %7 : tensor<?x?x4xf32> loc("derive-step.seq":25:6)
}

// -----

// Tests that attention without a causal mask has no step form.
// CHECK-NOT: func.func @bidir_step
// expected-remark@+1 {{no step form for 'bidir': 'seq.attention' at derive-step.seq:34:12 attends to later keys (no causal mask), so a chunk cannot be run before the tokens after it}}
func.func @bidir(%arg0: tensor<?x?x4xf32> {seq.input = "q"} loc("derive-step.seq":33:6), %arg1: tensor<?x?x4xf32> {seq.input = "k"} loc("derive-step.seq":33:6), %arg2: tensor<?x?x4xf32> {seq.input = "v"} loc("derive-step.seq":33:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""], ["B", "T", ""], ["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":34:12)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":34:12)
  %c1 = arith.constant 1 : index loc("derive-step.seq":34:12)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":34:12)
  %0 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":34:12)
  %1 = seq.attention ins(%arg0, %arg1, %arg2 : tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) outs(%0 : tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  ^bb0(%arg3: f32 loc("derive-step.seq":34:12), %arg4: index loc("derive-step.seq":34:12), %arg5: index loc("derive-step.seq":34:12), %arg6: index loc("derive-step.seq":34:12)):
    seq.yield %arg3 : f32 loc("derive-step.seq":34:12)
  } loc("derive-step.seq":34:12)
  return %1 : tensor<?x?x4xf32> loc("derive-step.seq":33:6)
}

// -----

// Tests that a scan reading another step than its own (the first token) has
// no step form.
// CHECK-NOT: func.func @first_step
// expected-remark@+1 {{no step form for 'first': 'tensor.extract_slice' at derive-step.seq:39:26 reads a time-indexed value at another step than the scan's own}}
func.func @first(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":37:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":37:12)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":37:12)
  %c1 = arith.constant 1 : index loc("derive-step.seq":37:12)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":37:12)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":38:38)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":38:38)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":38:38)
  %2:2 = seq.scan %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [1] -> (tensor<?x4xf32>, tensor<?x?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":38:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":38:5))):
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":39:16)
    %extracted_slice_1 = tensor.extract_slice %arg0[0, 0, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":39:26)
    %3 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%extracted_slice, %extracted_slice_1 : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("derive-step.seq":39:16), %in_2: f32 loc("derive-step.seq":39:26), %out: f32 loc("derive-step.seq":39:23)):
      %5 = arith.mulf %in, %in_2 : f32 loc("derive-step.seq":39:23)
      linalg.yield %5 : f32 loc("derive-step.seq":39:23)
    } -> tensor<?x4xf32> loc("derive-step.seq":39:23)
    %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg2, %3 : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("h"("derive-step.seq":38:5)), %in_2: f32 loc("derive-step.seq":39:23), %out: f32 loc("derive-step.seq":39:13)):
      %5 = arith.addf %in, %in_2 : f32 loc("derive-step.seq":39:13)
      linalg.yield %5 : f32 loc("derive-step.seq":39:13)
    } -> tensor<?x4xf32> loc("derive-step.seq":39:13)
    seq.yield %4, %4 : tensor<?x4xf32>, tensor<?x4xf32> loc("derive-step.seq":38:5)
  } loc("derive-step.seq":38:5)
  return %2#1 : tensor<?x?x4xf32> loc("derive-step.seq":37:6)
}

// -----

// Tests that a scan backwards in time has no step form.
// CHECK-NOT: func.func @backwards_step
// expected-remark@+1 {{no step form for 'backwards': 'seq.scan' at derive-step.seq:46:5 runs backwards in time}}
func.func @backwards(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":45:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":45:16)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":45:16)
  %c1 = arith.constant 1 : index loc("derive-step.seq":45:16)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":45:16)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":46:46)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":46:46)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":46:46)
  %2:2 = seq.scan reverse %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [1] -> (tensor<?x4xf32>, tensor<?x?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":46:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":46:5))):
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":47:16)
    %3 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg2, %extracted_slice : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("h"("derive-step.seq":46:5)), %in_1: f32 loc("derive-step.seq":47:16), %out: f32 loc("derive-step.seq":47:13)):
      %4 = arith.addf %in, %in_1 : f32 loc("derive-step.seq":47:13)
      linalg.yield %4 : f32 loc("derive-step.seq":47:13)
    } -> tensor<?x4xf32> loc("derive-step.seq":47:13)
    seq.yield %3, %3 : tensor<?x4xf32>, tensor<?x4xf32> loc("derive-step.seq":46:5)
  } loc("derive-step.seq":46:5)
  return %2#1 : tensor<?x?x4xf32> loc("derive-step.seq":45:6)
}

// -----

// Tests that a scan's final state used at every time step has no step
// form: in a step it would be the chunk's, not the sequence's.
// CHECK-NOT: func.func @summary_step
// expected-remark@+1 {{no step form for 'summary': 'linalg.generic' at derive-step.seq:57:14 uses the final state of a scan (a summary of the whole sequence) at every time step}}
func.func @summary(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":53:6)) -> (tensor<?x?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":53:14)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":53:14)
  %c1 = arith.constant 1 : index loc("derive-step.seq":53:14)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":53:14)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":54:38)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":54:38)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":54:38)
  %2 = seq.scan %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [] -> (tensor<?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":54:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":54:5))):
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":55:16)
    %5 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg2, %extracted_slice : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("h"("derive-step.seq":54:5)), %in_1: f32 loc("derive-step.seq":55:16), %out: f32 loc("derive-step.seq":55:13)):
      %6 = arith.addf %in, %in_1 : f32 loc("derive-step.seq":55:13)
      linalg.yield %6 : f32 loc("derive-step.seq":55:13)
    } -> tensor<?x4xf32> loc("derive-step.seq":55:13)
    seq.yield %5 : tensor<?x4xf32> loc("derive-step.seq":54:5)
  } loc("derive-step.seq":54:5)
  %expanded = tensor.expand_shape %2 [[0], [1, 2]] output_shape [%dim, 1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32> loc("derive-step.seq":57:17)
  %3 = tensor.empty(%dim, %dim_0) : tensor<?x?x4xf32> loc("derive-step.seq":57:14)
  %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, 0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %expanded : tensor<?x?x4xf32>, tensor<?x1x4xf32>) outs(%3 : tensor<?x?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":53:6), %in_1: f32 loc("derive-step.seq":57:17), %out: f32 loc("derive-step.seq":57:14)):
    %5 = arith.addf %in, %in_1 : f32 loc("derive-step.seq":57:14)
    linalg.yield %5 : f32 loc("derive-step.seq":57:14)
  } -> tensor<?x?x4xf32> loc("derive-step.seq":57:14)
  return %4 : tensor<?x?x4xf32> loc("derive-step.seq":53:6)
}

// -----

// Tests that a scan's final state may be an output: the step's is the
// state after its chunk.
// CHECK-LABEL: func.func @last_step(
// CHECK-SAME: -> (tensor<?x4xf32> {seq.output = "out"}, tensor<?x?xf32> {seq.state = "h.0"})
// expected-remark@+1 {{step form 'last_step' carries 1 scan carry}}
func.func @last(%arg0: tensor<?x?x4xf32> {seq.input = "x"} loc("derive-step.seq":60:6)) -> (tensor<?x4xf32> {seq.output = "out"}) attributes {seq.dims = ["B", "T"], seq.input_dims = [["B", "T", ""]]} {
  %c0 = arith.constant 0 : index loc("derive-step.seq":60:11)
  %dim = tensor.dim %arg0, %c0 : tensor<?x?x4xf32> loc("derive-step.seq":60:11)
  %c1 = arith.constant 1 : index loc("derive-step.seq":60:11)
  %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x4xf32> loc("derive-step.seq":60:11)
  %cst = arith.constant 0.000000e+00 : f32 loc("derive-step.seq":61:38)
  %0 = tensor.empty(%dim) : tensor<?x4xf32> loc("derive-step.seq":61:38)
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x4xf32>) -> tensor<?x4xf32> loc("derive-step.seq":61:38)
  %2 = seq.scan %dim_0 carry(%1 : tensor<?x4xf32>) output_axes = [] -> (tensor<?x4xf32>) {
  ^bb0(%arg1: index loc("derive-step.seq":61:5), %arg2: tensor<?x4xf32> loc("h"("derive-step.seq":61:5))):
    %cst_2 = arith.constant dense<5.000000e-01> : tensor<f32> loc("derive-step.seq":62:11)
    %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_2, %arg2 : tensor<f32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("derive-step.seq":62:11), %in_3: f32 loc("h"("derive-step.seq":61:5)), %out: f32 loc("derive-step.seq":62:15)):
      %6 = arith.mulf %in, %in_3 : f32 loc("derive-step.seq":62:15)
      linalg.yield %6 : f32 loc("derive-step.seq":62:15)
    } -> tensor<?x4xf32> loc("derive-step.seq":62:15)
    %extracted_slice = tensor.extract_slice %arg0[0, %arg1, 0] [%dim, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<?x4xf32> loc("derive-step.seq":62:22)
    %5 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%4, %extracted_slice : tensor<?x4xf32>, tensor<?x4xf32>) outs(%0 : tensor<?x4xf32>) {
    ^bb0(%in: f32 loc("derive-step.seq":62:15), %in_3: f32 loc("derive-step.seq":62:22), %out: f32 loc("derive-step.seq":62:19)):
      %6 = arith.addf %in, %in_3 : f32 loc("derive-step.seq":62:19)
      linalg.yield %6 : f32 loc("derive-step.seq":62:19)
    } -> tensor<?x4xf32> loc("derive-step.seq":62:19)
    seq.yield %5 : tensor<?x4xf32> loc("derive-step.seq":61:5)
  } loc("derive-step.seq":61:5)
  %cst_1 = arith.constant dense<2.000000e+00> : tensor<f32> loc("derive-step.seq":64:16)
  %3 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%2, %cst_1 : tensor<?x4xf32>, tensor<f32>) outs(%0 : tensor<?x4xf32>) {
  ^bb0(%in: f32 loc("derive-step.seq":61:5), %in_2: f32 loc("derive-step.seq":64:16), %out: f32 loc("derive-step.seq":64:14)):
    %4 = arith.mulf %in, %in_2 : f32 loc("derive-step.seq":64:14)
    linalg.yield %4 : f32 loc("derive-step.seq":64:14)
  } -> tensor<?x4xf32> loc("derive-step.seq":64:14)
  return %3 : tensor<?x4xf32> loc("derive-step.seq":60:6)
}
