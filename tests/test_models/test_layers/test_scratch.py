import threading

import torch

from mmrefseg.models.layers.scratch import scratch


def test_a_slot_reuses_its_buffer_and_grows_when_needed():
    like = torch.empty(0)
    first = scratch('test_a', (4, 8), like=like)
    again = scratch('test_a', (2, 3), like=like)
    other = scratch('test_b', (4, 8), like=like)
    assert first.shape == (4, 8) and first.is_contiguous()
    assert again.data_ptr() == first.data_ptr()
    assert other.data_ptr() != first.data_ptr()
    grown = scratch('test_a', (10, 10), like=like)
    assert grown.shape == (10, 10)
    assert scratch('test_a', (4, 8), like=like).data_ptr() == grown.data_ptr()
    assert scratch('test_a', (2, 2), like=like.double()).dtype == torch.float64


def test_inference_mode_and_threads_get_their_own_buffers():
    like = torch.empty(0)
    plain = scratch('test_c', (16, ), like=like)
    with torch.inference_mode():
        inference = scratch('test_c', (16, ), like=like)
        assert inference.is_inference()
        assert inference.data_ptr() != plain.data_ptr()
    # Outside inference mode the plain buffer stays writable.
    torch.mm(torch.ones(4, 2), torch.ones(2, 4),
             out=scratch('test_c', (4, 4), like=like))
    pointers = []
    thread = threading.Thread(target=lambda: pointers.append(
        scratch('test_c', (16, ), like=like).data_ptr()))
    thread.start()
    thread.join()
    assert pointers and pointers[0] != plain.data_ptr()
