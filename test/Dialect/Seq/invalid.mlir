// RUN: seq-opt %s --split-input-file --verify-diagnostics

// Tests that a scan needs one result per carry and per output.
func.func @scan_result_count(%len: index, %h0: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op expected 2 results (1 carries and 1 outputs), found 1}}
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>):
    seq.yield %h, %h : tensor<4xf32>, tensor<4xf32>
  }
  return
}

// -----

// Tests that a final carry has its carry's type.
func.func @scan_carry_result_type(%len: index, %h0: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op result #0 must have the type of carry #0, expected 'tensor<4xf32>', found 'tensor<?xf32>'}}
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [] -> (tensor<?xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>):
    seq.yield %h : tensor<4xf32>
  }
  return
}

// -----

// Tests that the body takes the step and one argument per carry.
func.func @scan_body_arg_count(%len: index, %h0: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op expected the body to take 2 arguments (the step and 1 carries), found 1}}
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [] -> (tensor<4xf32>) {
  ^bb0(%t: index):
    seq.yield %h0 : tensor<4xf32>
  }
  return
}

// -----

// Tests that the step argument is an index.
func.func @scan_step_type(%len: index, %h0: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op expected the body's first argument to be an index, found 'i64'}}
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [] -> (tensor<4xf32>) {
  ^bb0(%t: i64, %h: tensor<4xf32>):
    seq.yield %h : tensor<4xf32>
  }
  return
}

// -----

// Tests that a carry's block argument has the carry's type.
func.func @scan_body_arg_type(%len: index, %h0: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op body argument #1 must have the type of carry #0, expected 'tensor<4xf32>', found 'tensor<4xf16>'}}
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [] -> (tensor<4xf32>) {
  ^bb0(%t: index, %h: tensor<4xf16>):
    seq.yield %h0 : tensor<4xf32>
  }
  return
}

// -----

// Tests that the body yields every carry and every output.
func.func @scan_yield_count(%len: index, %h0: tensor<4xf32>) {
  %r:2 = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [0] -> (tensor<4xf32>, tensor<?x4xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>):
    // expected-error @+1 {{'seq.yield' op expected 2 values (1 carries and 1 outputs), found 1}}
    seq.yield %h : tensor<4xf32>
  }
  return
}

// -----

// Tests that a yielded carry has the carry's type.
func.func @scan_yield_carry_type(%len: index, %h0: tensor<4xf32>, %g: tensor<2xf32>) {
  %r = seq.scan %len carry(%h0 : tensor<4xf32>) output_axes = [] -> (tensor<4xf32>) {
  ^bb0(%t: index, %h: tensor<4xf32>):
    // expected-error @+1 {{'seq.yield' op value #0 must have the type of carry #0, expected 'tensor<4xf32>', found 'tensor<2xf32>'}}
    seq.yield %g : tensor<2xf32>
  }
  return
}

// -----

// Tests that a per-step output is a ranked tensor.
func.func @scan_output_not_tensor(%len: index, %f: f32) {
  %r = seq.scan %len output_axes = [0] -> (tensor<?xf32>) {
  ^bb0(%t: index):
    // expected-error @+1 {{'seq.yield' op per-step output #0 must be a ranked tensor, found 'f32'}}
    seq.yield %f : f32
  }
  return
}

// -----

// Tests that an output axis is at most the per-step rank.
func.func @scan_output_axis_range(%len: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op output axis #0 must be in [0, 1], found 2}}
  %r = seq.scan %len output_axes = [2] -> (tensor<4x?xf32>) {
  ^bb0(%t: index):
    seq.yield %x : tensor<4xf32>
  }
  return
}

// -----

// Tests that a stacked output is the per-step type with the time axis added.
func.func @scan_output_type(%len: index, %x: tensor<4xf32>) {
  // expected-error @+1 {{'seq.scan' op result #0 must be the per-step type 'tensor<4xf32>' with a time dimension at axis 0, found 'tensor<4x?xf32>'}}
  %r = seq.scan %len output_axes = [0] -> (tensor<4x?xf32>) {
  ^bb0(%t: index):
    seq.yield %x : tensor<4xf32>
  }
  return
}

// -----

// Tests that a static time dimension matches a constant length.
func.func @scan_static_time(%x: tensor<4xf32>) {
  %c3 = arith.constant 3 : index
  // expected-error @+1 {{'seq.scan' op time dimension of result #0 must be ? or the length 3, found 5}}
  %r = seq.scan %c3 output_axes = [1] -> (tensor<4x5xf32>) {
  ^bb0(%t: index):
    seq.yield %x : tensor<4xf32>
  }
  return
}

// -----

// Tests that an associative scan has at least one input.
func.func @assoc_no_inputs() {
  // expected-error @+1 {{'seq.assoc_scan' op expected at least one input}}
  "seq.assoc_scan"() <{axis = 0 : i64}> ({
  ^bb0:
    "seq.yield"() : () -> ()
  }) : () -> ()
  return
}

// -----

// Tests that all inputs of an associative scan have one length along the
// scanned axis.
func.func @assoc_shapes(%a: tensor<4x8xf32>, %b: tensor<4x9xf32>) {
  // expected-error @+1 {{'seq.assoc_scan' op expected all inputs to have the size of input #0 along axis 1 (8), found 'tensor<4x9xf32>'}}
  %r:2 = seq.assoc_scan axis = 1 (%a, %b) : tensor<4x8xf32>, tensor<4x9xf32> {
  ^bb0(%a1: tensor<4xf32>, %b1: tensor<4xf32>, %a2: tensor<4xf32>, %b2: tensor<4xf32>):
    seq.yield %a1, %b1 : tensor<4xf32>, tensor<4xf32>
  }
  return
}

// -----

// Tests that the scanned axis is in range.
func.func @assoc_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'seq.assoc_scan' op axis must be in [0, 2), found 2}}
  %r = seq.assoc_scan axis = 2 (%a) : tensor<4x8xf32> {
  ^bb0(%a1: tensor<4xf32>, %a2: tensor<4xf32>):
    seq.yield %a1 : tensor<4xf32>
  }
  return
}

// -----

// Tests that the combiner takes two elements of every input.
func.func @assoc_combiner_arg_count(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'seq.assoc_scan' op expected the combiner to take 2 arguments (two elements of 1 inputs), found 1}}
  %r = seq.assoc_scan axis = 1 (%a) : tensor<4x8xf32> {
  ^bb0(%a1: tensor<4xf32>):
    seq.yield %a1 : tensor<4xf32>
  }
  return
}

// -----

// Tests that combiner arguments are slices of the inputs.
func.func @assoc_combiner_arg_type(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'seq.assoc_scan' op combiner argument #1 must be a slice of input #0, expected 'tensor<4xf32>', found 'tensor<8xf32>'}}
  %r = seq.assoc_scan axis = 1 (%a) : tensor<4x8xf32> {
  ^bb0(%a1: tensor<4xf32>, %a2: tensor<8xf32>):
    seq.yield %a1 : tensor<4xf32>
  }
  return
}

// -----

// Tests that the combiner yields one slice per input.
func.func @assoc_yield_count(%a: tensor<4x8xf32>) {
  %r = seq.assoc_scan axis = 1 (%a) : tensor<4x8xf32> {
  ^bb0(%a1: tensor<4xf32>, %a2: tensor<4xf32>):
    // expected-error @+1 {{'seq.yield' op expected 1 values, found 2}}
    seq.yield %a1, %a2 : tensor<4xf32>, tensor<4xf32>
  }
  return
}

// -----

// Tests that the combiner yields slices of the inputs' types.
func.func @assoc_yield_type(%a: tensor<4x8xf32>, %g: tensor<4xf16>) {
  %r = seq.assoc_scan axis = 1 (%a) : tensor<4x8xf32> {
  ^bb0(%a1: tensor<4xf32>, %a2: tensor<4xf32>):
    // expected-error @+1 {{'seq.yield' op value #0 must be a slice of input #0, expected 'tensor<4xf32>', found 'tensor<4xf16>'}}
    seq.yield %g : tensor<4xf16>
  }
  return
}

// -----

// Tests that softmax keeps its input's type.
func.func @softmax_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'seq.softmax' op expected the result type to be the input type 'tensor<4x8xf32>', found 'tensor<4x?xf32>'}}
  %p = seq.softmax %x {axis = 1 : i64} : tensor<4x8xf32> -> tensor<4x?xf32>
  return
}

// -----

// Tests that the softmax axis is in range.
func.func @softmax_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'seq.softmax' op axis must be in [0, 2), found 2}}
  %p = seq.softmax %x {axis = 2 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that softmax takes floats only.
func.func @softmax_int(%x: tensor<4xi32>) {
  // expected-error @+1 {{'seq.softmax' op operand #0 must be ranked tensor of floating-point values}}
  %p = seq.softmax %x {axis = 0 : i64} : tensor<4xi32> -> tensor<4xi32>
  return
}

// -----

// Tests that seq.yield lives only in seq.scan and seq.assoc_scan.
func.func @yield_parent(%x: tensor<4xf32>) {
  // expected-error @+1 {{'seq.yield' op expects parent op to be one of 'seq.scan, seq.assoc_scan, seq.attention'}}
  seq.yield %x : tensor<4xf32>
}

// -----

// Tests that attention needs the key to have the query's rank.
func.func @attention_rank(%q: tensor<4x?x16xf32>, %k: tensor<?x16xf32>, %v: tensor<4x?x16xf32>, %o: tensor<4x?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the key to have the query's rank 3, found 2}}
  %r = seq.attention ins(%q, %k, %v : tensor<4x?x16xf32>, tensor<?x16xf32>, tensor<4x?x16xf32>) outs(%o : tensor<4x?x16xf32>) -> tensor<4x?x16xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that a key batch axis is 1 or the query's size.
func.func @attention_batch(%q: tensor<4x?x16xf32>, %k: tensor<2x?x16xf32>, %v: tensor<4x?x16xf32>, %o: tensor<4x?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected key batch axis 0 to be 1 or the query's size 4, found 2}}
  %r = seq.attention ins(%q, %k, %v : tensor<4x?x16xf32>, tensor<2x?x16xf32>, tensor<4x?x16xf32>) outs(%o : tensor<4x?x16xf32>) -> tensor<4x?x16xf32> {
  ^bb0(%s: f32, %b: index, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that query and key feature sizes agree.
func.func @attention_features(%q: tensor<?x16xf32>, %k: tensor<?x8xf32>, %v: tensor<?x16xf32>, %o: tensor<?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the query and key feature sizes to agree, found 16 and 8}}
  %r = seq.attention ins(%q, %k, %v : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x16xf32>) outs(%o : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%s: f32, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that key and value lengths agree.
func.func @attention_lengths(%q: tensor<?x16xf32>, %k: tensor<7x16xf32>, %v: tensor<9x16xf32>, %o: tensor<?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the key and value lengths to agree, found 7 and 9}}
  %r = seq.attention ins(%q, %k, %v : tensor<?x16xf32>, tensor<7x16xf32>, tensor<9x16xf32>) outs(%o : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%s: f32, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that the mask holds whole (a, b, c) triples.
func.func @attention_mask(%q: tensor<?x16xf32>, %k: tensor<?x16xf32>, %v: tensor<?x16xf32>, %o: tensor<?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the mask to hold (a, b, c) triples, found 2 values}}
  %r = seq.attention ins(%q, %k, %v : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) outs(%o : tensor<?x16xf32>) mask = [1, -1] -> tensor<?x16xf32> {
  ^bb0(%s: f32, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that the score region takes the score, a batch index per batch
// axis and the two positions.
func.func @attention_region_args(%q: tensor<2x?x16xf32>, %k: tensor<2x?x16xf32>, %v: tensor<2x?x16xf32>, %o: tensor<2x?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the score region to take 4 arguments (the score, 1 batch indices, the query and key positions), found 3}}
  %r = seq.attention ins(%q, %k, %v : tensor<2x?x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32>) outs(%o : tensor<2x?x16xf32>) -> tensor<2x?x16xf32> {
  ^bb0(%s: f32, %i: index, %j: index):
    seq.yield %s : f32
  }
  return
}

// -----

// Tests that the score region yields one f32.
func.func @attention_region_yield(%q: tensor<?x16xf32>, %k: tensor<?x16xf32>, %v: tensor<?x16xf32>, %o: tensor<?x16xf32>) {
  // expected-error @+1 {{'seq.attention' op expected the score region to yield one f32}}
  %r = seq.attention ins(%q, %k, %v : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) outs(%o : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%s: f32, %i: index, %j: index):
    %c = arith.constant 1 : index
    seq.yield %c : index
  }
  return
}
