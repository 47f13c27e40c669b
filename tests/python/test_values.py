"""Values that cross to worker processes: pickled with protocol 5, large buffers (NumPy arrays) out
of band, so an array's data is copied straight from its memory and used in place on arrival (an
unpickled array's base is the bytearray its data came in, not a copy made by pickle)."""

import struct

import parmill
import pytest
from parmill import _native

# python3-numpy: the Makefile's DEPS should install it (then these never skip).
numpy = pytest.importorskip("numpy")


def memory_owner(array):
    """What holds the array's data: the first base along the chain that is neither an array nor a
    memoryview."""
    owner = array
    while isinstance(owner, (numpy.ndarray, memoryview)):
        owner = owner.base if isinstance(owner, numpy.ndarray) else owner.obj
    return owner


def describe(array):
    return array.sum(), array.dtype.str, array.shape, type(memory_owner(array)).__name__


def test_a_large_array_round_trips_and_its_data_travels_out_of_band(process_backend):
    arrays = [numpy.arange(1_000_000, dtype=numpy.float64) * k for k in range(3)]
    for k, (total, dtype, shape, base) in enumerate(parmill.map(describe, arrays, backend=process_backend)):
        assert (total, dtype, shape) == (arrays[k].sum(), "<f8", (1_000_000,))
        assert base == "bytearray"  # the worker got the buffer itself, not a copy made by pickle
    for k, back in enumerate(parmill.map(lambda a: a + 1, arrays, backend=process_backend)):
        assert numpy.array_equal(back, arrays[k] + 1)
        assert isinstance(memory_owner(back), bytearray) and back.flags.writeable


def test_arrays_from_a_generator_one_by_one_travel_out_of_band_too(process_backend):
    def source():
        for k in range(4):
            yield numpy.full((300, 300), k, dtype=numpy.int32)

    results = list(parmill.map(describe, source(), backend=process_backend))
    assert [r[0] for r in results] == [k * 90_000 for k in range(4)]
    assert all(r[3] == "bytearray" for r in results)


def test_an_array_that_is_not_contiguous_still_crosses(process_backend):
    base = numpy.arange(100_000, dtype=numpy.int64).reshape(100, 1000)
    strided = [base[:, ::3], base.T]
    for sent, back in zip(strided, parmill.map(lambda a: a, strided, backend=process_backend)):
        assert numpy.array_equal(back, sent)


def test_the_pickle_carries_no_array_data_its_buffer_follows_it_as_is():
    array = numpy.arange(250_000, dtype=numpy.float64)
    encoded = _native.encoded({"weights": array, "name": "w"})
    assert encoded[:1] == b"p"  # pickled
    buffers, pickle_size = struct.unpack_from("<QQ", encoded, 1)
    assert buffers == 1 and pickle_size < 1000  # the 2 MB of data are not in the pickle
    (buffer_size,) = struct.unpack_from("<Q", encoded, 17 + pickle_size)
    assert buffer_size == array.nbytes
    assert encoded[25 + pickle_size:] == array.tobytes()
