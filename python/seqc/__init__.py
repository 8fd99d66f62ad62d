"""Calls a library that seqc compiled, from Python, without copies.

    import seqc
    lib = seqc.load("build/libllama.so")
    model = lib.create("weights.safetensors")          # cpu or cuda: the
    y = numpy.empty(...) / torch.empty(..., device="cuda")   # library's
    model.forward(x, out=y)                              # target decides
    y = model.forward(x)                                 # or allocated here

Tensors go through DLPack (`__dlpack__`): NumPy arrays, PyTorch CPU and
CUDA tensors, JAX and CuPy arrays are passed as they are, never copied; the
library checks rank, sizes, dtype, device and strides and raises
seqc.Error with its message when they are wrong. Outputs are written in
place into the tensors given as `out` (a tuple when the entry has several);
without `out`, NumPy arrays (cpu libraries) or PyTorch tensors (cuda
libraries) of the declared shapes are made. Only ctypes and the standard
library are needed (docs/python.md).
"""

import ctypes
import os

__all__ = ["Error", "Library", "Model", "load"]

# DLPack and seqrt.h, as ctypes sees them.
kDLCPU, kDLCUDA = 1, 2


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [
    ("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor)))]


class ArgDesc(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("kind", ctypes.c_int),
                ("dtype", DLDataType), ("rank", ctypes.c_int),
                ("dims", ctypes.POINTER(ctypes.c_int64))]


TensorArray = ctypes.POINTER(ctypes.POINTER(DLTensor))
EntryFn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, TensorArray,
                           TensorArray)


class EntryDesc(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("n_inputs", ctypes.c_int),
                ("inputs", ctypes.POINTER(ArgDesc)),
                ("n_outputs", ctypes.c_int),
                ("outputs", ctypes.POINTER(ArgDesc)), ("fn", EntryFn),
                ("step_of", ctypes.c_char_p), ("time_dim", ctypes.c_int),
                ("n_states", ctypes.c_int),
                ("states", ctypes.POINTER(ArgDesc)), ("step", ctypes.c_void_p)]


class LibraryDesc(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int), ("model_name", ctypes.c_char_p),
                ("n_dims", ctypes.c_int),
                ("dim_names", ctypes.POINTER(ctypes.c_char_p)),
                ("n_weights", ctypes.c_int),
                ("weights", ctypes.POINTER(ArgDesc)),
                ("n_entries", ctypes.c_int),
                ("entries", ctypes.POINTER(EntryDesc)),
                ("create", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p,
                                            DLDevice,
                                            ctypes.POINTER(ctypes.c_void_p))),
                ("destroy", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
                ("last_error", ctypes.CFUNCTYPE(ctypes.c_char_p)),
                ("state_create", ctypes.c_void_p),
                ("state_destroy", ctypes.c_void_p),
                ("device_type", ctypes.c_int),
                ("set_stream", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                                ctypes.c_void_p))]


ABI_VERSION = 3
STATUS = ["OK", "INVALID_ARGUMENT", "SHAPE", "DTYPE", "DEVICE", "IO",
          "WEIGHT", "OUT_OF_MEMORY", "UNSUPPORTED", "INTERNAL", "CUDA"]
DTYPES = {(2, 32): "float32", (2, 16): "float16", (2, 64): "float64",
          (0, 32): "int32", (0, 64): "int64", (6, 8): "bool", (4, 16): "bfloat16"}


class Error(RuntimeError):
    """A call the library refused or that failed: status and message."""

    def __init__(self, status, message):
        name = STATUS[status] if 0 <= status < len(STATUS) else str(status)
        super().__init__("%s: %s" % (name, message))
        self.status = name


_capsule_name = b"dltensor"
_pyapi = ctypes.pythonapi
_pyapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
_pyapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


# torch dtypes by name -> DLPack (code, bits): the fast path below.
_TORCH_DTYPES = {"float32": (2, 32), "float16": (2, 16), "float64": (2, 64),
                 "bfloat16": (4, 16), "int32": (0, 32), "int64": (0, 64),
                 "bool": (6, 8)}
# The same keyed by the dtype objects, filled as they are met.
_torch_dtype_codes = {}
# DLTensors of PyTorch tensors by (pointer, sizes, strides, dtype, device):
# a decoding loop passes the same buffers call after call, and building a
# DLTensor in Python costs more than a small kernel. A DLTensor describes
# only these values, so one found here is the one that would be built.
_described = {}
_DESCRIBED_MAX = 256


def _torch_dltensor(obj, keep):
    """A PyTorch tensor described directly (its pointer, sizes and strides
    in elements, as DLPack has them): what __dlpack__ would give, without
    making a capsule per tensor per call. None for a dtype not listed."""
    dtype = obj.dtype
    code_bits = _torch_dtype_codes.get(dtype)
    if code_bits is None:
        code_bits = _TORCH_DTYPES.get(str(dtype)[len("torch."):])
        if code_bits is None:
            return None
        _torch_dtype_codes[dtype] = code_bits
    shape, stride, device = obj.shape, obj.stride(), obj.get_device()
    key = (obj.data_ptr(), shape, stride, dtype, device)
    t = _described.get(key)
    if t is None:
        n = len(shape)
        t = DLTensor(key[0],
                     DLDevice(kDLCUDA if device >= 0 else kDLCPU,
                              max(device, 0)),
                     n, DLDataType(code_bits[0], code_bits[1], 1),
                     (ctypes.c_int64 * max(1, n))(*shape),
                     (ctypes.c_int64 * max(1, n))(*stride), 0)
        if len(_described) >= _DESCRIBED_MAX:
            _described.clear()
        _described[key] = t
    keep.append(obj)
    return ctypes.pointer(t)


_torch_types = set()


def _is_torch(obj):
    """Whether `obj` is a PyTorch tensor: its type's module is torch's and
    it has a data pointer (types found so are remembered)."""
    kind = type(obj)
    if kind in _torch_types:
        return True
    if kind.__module__.startswith("torch") and hasattr(obj, "data_ptr"):
        _torch_types.add(kind)
        return True
    return False


def _current_stream(device):
    """PyTorch's current CUDA stream on `device` (its raw handle)."""
    import torch
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(device)
    return torch.cuda.current_stream(device).cuda_stream


def _dltensor(obj, keep):
    """The DLTensor of anything with __dlpack__; what backs it is kept alive
    in `keep` for the duration of the call."""
    if _is_torch(obj) and (obj.is_cuda or obj.device.type == "cpu"):
        t = _torch_dltensor(obj, keep)
        if t is not None:
            return t
    if not hasattr(obj, "__dlpack__"):
        raise TypeError("expected a tensor that speaks DLPack (NumPy, "
                        "PyTorch, JAX, CuPy), got %s" % type(obj).__name__)
    try:
        capsule = obj.__dlpack__(stream=None)
    except TypeError:
        capsule = obj.__dlpack__()
    ptr = _pyapi.PyCapsule_GetPointer(capsule, _capsule_name)
    managed = ctypes.cast(ptr, ctypes.POINTER(DLManagedTensor))
    # The capsule owns the managed tensor (its destructor calls the deleter
    # unless renamed "used_dltensor"); keeping the capsule keeps the data.
    keep.append(capsule)
    return ctypes.pointer(managed.contents.dl_tensor)


class Library:
    """A compiled library: its models' entries, dims and weights."""

    def __init__(self, path):
        self._dll = ctypes.CDLL(os.path.abspath(path))
        fn = self._dll.seqrt_library
        fn.restype = ctypes.POINTER(LibraryDesc)
        desc = fn()
        if not desc:
            raise Error(9, "'%s' has no usable descriptor" % path)
        self.desc = desc.contents
        if self.desc.abi_version != ABI_VERSION:
            raise Error(9, "'%s' speaks runtime ABI %d, this module %d" % (
                path, self.desc.abi_version, ABI_VERSION))
        self.name = self.desc.model_name.decode()
        self.device = "cuda" if self.desc.device_type == kDLCUDA else "cpu"
        self.dims = [self.desc.dim_names[i].decode()
                     for i in range(self.desc.n_dims)]
        self.entries = {}
        for k in range(self.desc.n_entries):
            e = self.desc.entries[k]
            if not e.step_of:
                self.entries[e.name.decode()] = e

    def create(self, weights=None, device_id=0):
        return Model(self, weights, device_id)

    def _check(self, status):
        if status != 0:
            raise Error(status, self.desc.last_error().decode())


class Model:
    """A model with its weights loaded (on the device for cuda)."""

    def __init__(self, lib, weights, device_id):
        self._lib = lib
        self._ptr = ctypes.c_void_p()
        self._stream = None  # the CUDA stream last given to set_stream
        dev = DLDevice(kDLCUDA if lib.device == "cuda" else kDLCPU, device_id)
        path = os.fsencode(weights) if weights is not None else None
        lib._check(lib.desc.create(path, dev, ctypes.byref(self._ptr)))
        for name, e in lib.entries.items():
            setattr(self, name, self._entry(e))

    def _entry(self, e):
        def call(*inputs, out=None, **dims):
            if len(inputs) != e.n_inputs:
                raise TypeError("%s takes %d inputs, got %d" % (
                    e.name.decode(), e.n_inputs, len(inputs)))
            if out is None:
                out = self._allocate(e, inputs, dims)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if len(outs) != e.n_outputs:
                raise TypeError("%s has %d outputs, got %d in out" % (
                    e.name.decode(), e.n_outputs, len(outs)))
            keep = []
            self._follow_stream(inputs, outs)
            ins = (ctypes.POINTER(DLTensor) * max(1, e.n_inputs))(
                *[_dltensor(t, keep) for t in inputs])
            os_ = (ctypes.POINTER(DLTensor) * max(1, e.n_outputs))(
                *[_dltensor(t, keep) for t in outs])
            self._lib._check(e.fn(self._ptr, ins, os_))
            return out
        call.__name__ = e.name.decode()
        return call

    def _follow_stream(self, inputs, outs):
        """A CUDA model called on PyTorch tensors runs on PyTorch's current
        stream, after the work queued there (what wrote the inputs)."""
        if self._lib.device != "cuda":
            return
        for t in list(inputs) + list(outs):
            if _is_torch(t) and t.is_cuda:
                s = _current_stream(t.get_device())
                s = s if s else 1
                if s != self._stream:
                    self._lib._check(self._lib.desc.set_stream(self._ptr, s))
                    self._stream = s
                return

    def _allocate(self, e, inputs, dims):
        """Outputs of the declared shapes, dims bound from the inputs."""
        values = dict(dims)
        for i in range(e.n_inputs):
            a = e.inputs[i]
            for j in range(a.rank):
                d = a.dims[j]
                if d < 0:
                    values.setdefault(self._lib.dims[-d - 1],
                                      int(inputs[i].shape[j]))
        outs = []
        for i in range(e.n_outputs):
            a = e.outputs[i]
            shape = []
            for j in range(a.rank):
                d = a.dims[j]
                if d < 0:
                    name = self._lib.dims[-d - 1]
                    if name not in values:
                        raise TypeError("output '%s': dim %s unknown; pass "
                                        "%s=N" % (a.name.decode(), name, name))
                    d = values[name]
                shape.append(d)
            dtype = DTYPES[(a.dtype.code, a.dtype.bits)]
            if self._lib.device == "cuda":
                import torch
                outs.append(torch.empty(shape, dtype=getattr(torch, dtype),
                                        device="cuda"))
            else:
                import numpy
                outs.append(numpy.empty(shape, dtype=dtype))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def close(self):
        if self._ptr:
            self._lib.desc.destroy(self._ptr)
            self._ptr = ctypes.c_void_p()

    def __del__(self):
        self.close()


def load(path):
    """Loads a library that seqc compiled (`seqc FILE.seq -o libNAME.so`)."""
    return Library(path)
