// RUN: seq-opt %s --split-input-file --convert-seq-to-scf | FileCheck %s

// Tests that a scan becomes an scf.for over the steps with the carries and
// one stacked tensor per output (time at axis 0 and at axis 1) as iter_args,
// the body inlined and each step inserted at its time position.
// CHECK-LABEL: func.func @scan
// CHECK-SAME: (%[[LEN:.+]]: index, %[[H0:.+]]: tensor<4xf32>, %[[M0:.+]]: tensor<f32>)
// CHECK-DAG: %[[E0:.+]] = tensor.empty(%[[LEN]]) : tensor<?x4xf32>
// CHECK-DAG: %[[E1:.+]] = tensor.empty(%[[LEN]]) : tensor<4x?xf32>
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK: %[[R:.+]]:4 = scf.for %[[I:.+]] = %[[C0]] to %[[LEN]] step %[[C1]] iter_args(%[[H:.+]] = %[[H0]], %[[M:.+]] = %[[M0]], %[[Y0:.+]] = %[[E0]], %[[Y1:.+]] = %[[E1]]) -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>)
// CHECK: %[[HN:.+]] = arith.addf %[[H]], %[[H]] : tensor<4xf32>
// CHECK: %[[S0:.+]] = tensor.insert_slice %[[HN]] into %[[Y0]][%[[I]], 0] [1, 4] [1, 1] : tensor<4xf32> into tensor<?x4xf32>
// CHECK: %[[S1:.+]] = tensor.insert_slice %[[H]] into %[[Y1]][0, %[[I]]] [4, 1] [1, 1] : tensor<4xf32> into tensor<4x?xf32>
// CHECK: scf.yield %[[HN]], %[[M]], %[[S0]], %[[S1]] : tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2, %[[R]]#3
func.func @scan(%len: index, %h0: tensor<4xf32>, %m0: tensor<f32>)
    -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>) {
  %r:4 = seq.scan %len carry(%h0, %m0 : tensor<4xf32>, tensor<f32>) output_axes = [0, 1]
      -> (tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>, %m: tensor<f32>):
    %hn = arith.addf %h, %h : tensor<4xf32>
    seq.yield %hn, %m, %hn, %h : tensor<4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>
  }
  return %r#0, %r#1, %r#2, %r#3 : tensor<4xf32>, tensor<f32>, tensor<?x4xf32>, tensor<4x?xf32>
}

// -----

// Tests that a reverse scan runs the body at step length-1-i and stores each
// step there; a static time dimension needs no size.
// CHECK-LABEL: func.func @reverse_scan
// CHECK-SAME: (%[[X:.+]]: tensor<2x8xf32>)
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[E:.+]] = tensor.empty() : tensor<2x8xf32>
// CHECK: %[[R:.+]] = scf.for %[[I:.+]] = %{{.+}} to %[[C8]] step %{{.+}} iter_args(%[[Y:.+]] = %[[E]]) -> (tensor<2x8xf32>)
// CHECK: %[[LAST:.+]] = arith.subi %[[C8]], %{{.+}} : index
// CHECK: %[[T:.+]] = arith.subi %[[LAST]], %[[I]] : index
// CHECK: %[[COL:.+]] = tensor.extract_slice %[[X]][0, %[[T]]] [2, 1] [1, 1] : tensor<2x8xf32> to tensor<2xf32>
// CHECK: %[[S:.+]] = tensor.insert_slice %[[COL]] into %[[Y]][0, %[[T]]] [2, 1] [1, 1] : tensor<2xf32> into tensor<2x8xf32>
// CHECK: scf.yield %[[S]] : tensor<2x8xf32>
// CHECK: return %[[R]]
func.func @reverse_scan(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c8 = arith.constant 8 : index
  %r = seq.scan reverse %c8 output_axes = [1] -> (tensor<2x8xf32>) {
  ^bb0(%t: index):
    %col = tensor.extract_slice %x[0, %t] [2, 1] [1, 1] : tensor<2x8xf32> to tensor<2xf32>
    seq.yield %col : tensor<2xf32>
  }
  return %r : tensor<2x8xf32>
}

// -----

// Tests that a dynamic size of a per-step output is taken, before the loop,
// from the tensor.empty its value was computed into.
// CHECK-LABEL: func.func @dynamic_step_size
// CHECK-SAME: (%[[LEN:.+]]: index, %[[B:.+]]: index)
// CHECK: %[[E:.+]] = tensor.empty(%[[B]], %[[LEN]]) : tensor<?x?xf32>
// CHECK: scf.for {{.+}} iter_args(%{{.+}} = %[[E]]) -> (tensor<?x?xf32>)
// CHECK-NOT: scf.if
func.func @dynamic_step_size(%len: index, %b: index) -> tensor<?x?xf32> {
  %cst = arith.constant 1.0 : f32
  %r = seq.scan %len output_axes = [1] -> (tensor<?x?xf32>) {
  ^bb0(%t: index):
    %e = tensor.empty(%b) : tensor<?xf32>
    %f = linalg.fill ins(%cst : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    seq.yield %f : tensor<?xf32>
  }
  return %r : tensor<?x?xf32>
}

// -----

// Tests that a per-step size known only inside the body allocates the
// stacked tensor on the first step.
// CHECK-LABEL: func.func @size_from_first_step
// CHECK: scf.for %[[I:.+]] = %[[C0:.+]] to {{.+}} iter_args(%[[Y:.+]] = %{{.+}}) -> (tensor<?x?xf32>)
// CHECK: %[[FIRST:.+]] = arith.cmpi eq, %[[I]], %[[C0]] : index
// CHECK: %[[ACC:.+]] = scf.if %[[FIRST]] -> (tensor<?x?xf32>)
// CHECK: tensor.insert_slice %{{.+}} into %[[ACC]][%[[I]], 0]
func.func @size_from_first_step(%len: index, %v: tensor<?xindex>) -> tensor<?x?xf32> {
  %r = seq.scan %len output_axes = [0] -> (tensor<?x?xf32>) {
  ^bb0(%t: index):
    %n = tensor.extract %v[%t] : tensor<?xindex>
    %e = tensor.empty(%n) : tensor<?xf32>
    seq.yield %e : tensor<?xf32>
  }
  return %r : tensor<?x?xf32>
}

// -----

// Tests that a forward assoc_scan copies the inputs, then combines the
// running value at t-1 (first arguments) with the input at t (second) for
// t = 1 .. n-1.
// CHECK-LABEL: func.func @assoc_scan
// CHECK-SAME: (%[[A:.+]]: tensor<4x?xf32>, %[[B:.+]]: tensor<4x?xf32>)
// CHECK: %[[CA:.+]] = linalg.copy ins(%[[A]] : tensor<4x?xf32>)
// CHECK: %[[CB:.+]] = linalg.copy ins(%[[B]] : tensor<4x?xf32>)
// CHECK: %[[N:.+]] = tensor.dim %[[A]], %{{.+}} : tensor<4x?xf32>
// CHECK: %[[R:.+]]:2 = scf.for %[[T:.+]] = %[[C1:.+]] to %[[N]] step %[[C1]] iter_args(%[[RA:.+]] = %[[CA]], %[[RB:.+]] = %[[CB]])
// CHECK: %[[P:.+]] = arith.subi %[[T]], %[[C1]] : index
// CHECK: %[[A1:.+]] = tensor.extract_slice %[[RA]][0, %[[P]]] [4, 1] [1, 1] : tensor<4x?xf32> to tensor<4xf32>
// CHECK: %[[B1:.+]] = tensor.extract_slice %[[RB]][0, %[[P]]] [4, 1] [1, 1] : tensor<4x?xf32> to tensor<4xf32>
// CHECK: %[[A2:.+]] = tensor.extract_slice %[[A]][0, %[[T]]] [4, 1] [1, 1] : tensor<4x?xf32> to tensor<4xf32>
// CHECK: %[[B2:.+]] = tensor.extract_slice %[[B]][0, %[[T]]] [4, 1] [1, 1] : tensor<4x?xf32> to tensor<4xf32>
// CHECK: %[[AN:.+]] = arith.mulf %[[A1]], %[[A2]] : tensor<4xf32>
// CHECK: %[[P2:.+]] = arith.mulf %[[A2]], %[[B1]] : tensor<4xf32>
// CHECK: %[[BN:.+]] = arith.addf %[[P2]], %[[B2]] : tensor<4xf32>
// CHECK: %[[IA:.+]] = tensor.insert_slice %[[AN]] into %[[RA]][0, %[[T]]] [4, 1] [1, 1]
// CHECK: %[[IB:.+]] = tensor.insert_slice %[[BN]] into %[[RB]][0, %[[T]]] [4, 1] [1, 1]
// CHECK: scf.yield %[[IA]], %[[IB]]
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @assoc_scan(%a: tensor<4x?xf32>, %b: tensor<4x?xf32>) -> (tensor<4x?xf32>, tensor<4x?xf32>) {
  %r:2 = seq.assoc_scan axis = 1 (%a, %b) : tensor<4x?xf32>, tensor<4x?xf32> {
  ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
    %an = arith.mulf %a1, %a2 : tensor<4xf32>
    %p = arith.mulf %a2, %b1 : tensor<4xf32>
    %bn = arith.addf %p, %b2 : tensor<4xf32>
    seq.yield %an, %bn : tensor<4xf32>, tensor<4xf32>
  }
  return %r#0, %r#1 : tensor<4x?xf32>, tensor<4x?xf32>
}

// -----

// Tests that a reverse assoc_scan runs t = n-2 .. 0 and combines the running
// value at t+1 (first argument) with the input at t:
// r[t] = combine(r[t+1], x[t]).
// CHECK-LABEL: func.func @reverse_assoc_scan
// CHECK-SAME: (%[[X:.+]]: tensor<8x3xf32>)
// CHECK: %[[CX:.+]] = linalg.copy ins(%[[X]] : tensor<8x3xf32>)
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK: %[[R:.+]] = scf.for %[[I:.+]] = %[[C1]] to %[[C8]] step %[[C1]] iter_args(%[[RX:.+]] = %[[CX]])
// CHECK: %[[LAST:.+]] = arith.subi %[[C8]], %[[C1]] : index
// CHECK: %[[T:.+]] = arith.subi %[[LAST]], %[[I]] : index
// CHECK: %[[P:.+]] = arith.addi %[[T]], %[[C1]] : index
// CHECK: %[[PREV:.+]] = tensor.extract_slice %[[RX]][%[[P]], 0] [1, 3] [1, 1] : tensor<8x3xf32> to tensor<3xf32>
// CHECK: %[[CUR:.+]] = tensor.extract_slice %[[X]][%[[T]], 0] [1, 3] [1, 1] : tensor<8x3xf32> to tensor<3xf32>
// CHECK: %[[S:.+]] = arith.subf %[[PREV]], %[[CUR]] : tensor<3xf32>
// CHECK: %[[INS:.+]] = tensor.insert_slice %[[S]] into %[[RX]][%[[T]], 0] [1, 3] [1, 1]
// CHECK: scf.yield %[[INS]]
// CHECK: return %[[R]]
func.func @reverse_assoc_scan(%x: tensor<8x3xf32>) -> tensor<8x3xf32> {
  %r = seq.assoc_scan reverse axis = 0 (%x) : tensor<8x3xf32> {
  ^bb0(%run: tensor<3xf32>, %cur: tensor<3xf32>):
    // Not associative: only here to tell the arguments apart.
    %s = arith.subf %run, %cur : tensor<3xf32>
    seq.yield %s : tensor<3xf32>
  }
  return %r : tensor<8x3xf32>
}
