"""Per-query masks through inference_model (EAVL's aligner, paper Fig. 4)."""
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmrefseg.apis import ReferInferencePipeline, inference_model, init_model

EAVL_TOY = 'configs/toy/eavl_tiny_refer-toy.py'
CRIS_TOY = 'configs/toy/cris_tiny_refer-toy.py'
SENTENCES = ['the red circle', 'rectangle on the right']


def _image():
    return np.random.default_rng(0).integers(
        0, 256, (70, 90, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def eavl_model():
    torch.manual_seed(0)
    return init_model(EAVL_TOY)


def test_query_masks_are_the_heads_masks_at_the_image_size(eavl_model):
    """Query n's probabilities are its mask of ``forward_masks``, post-
    processed as the main mask (a letterbox undone, the image's size)."""
    image = _image()
    inputs, sample = ReferInferencePipeline(eavl_model.cfg)(image)
    samples = []
    for text in SENTENCES:
        copied = sample.clone()
        copied.set_metainfo(dict(text=text))
        samples.append(copied)
    with torch.no_grad():
        batch = eavl_model.data_preprocessor(
            dict(inputs=[inputs], data_samples=samples[:1]), False)['inputs']
        feats = eavl_model.extract_feat(batch, samples)
        masks, scores = eavl_model.decode_head.forward_masks(feats)
        # The query masks through the main mask's post-processing.
        expected = eavl_model.postprocess_result(
            masks[1, :, None], [
                SegDataSample(metainfo=samples[1].metainfo)
                for _ in range(masks.shape[1])
            ], tuple(batch.shape[-2:]))
    result = inference_model(
        eavl_model, image, SENTENCES, with_query_masks=True)[1]
    np.testing.assert_allclose(
        result.query_probs,
        torch.cat([e.seg_logits.data for e in expected]).numpy(),
        atol=1e-6)
    np.testing.assert_allclose(result.query_scores, scores[1].numpy(),
                               atol=1e-6)


def test_inference_model_returns_query_masks_at_the_image_size(eavl_model):
    plain = inference_model(eavl_model, _image(), SENTENCES)
    explained = inference_model(
        eavl_model, _image(), SENTENCES, with_query_masks=True)
    num_queries = eavl_model.decode_head.query_generator.num_queries
    for without, with_queries in zip(plain, explained):
        # Asking for the query masks leaves the result unchanged.
        np.testing.assert_array_equal(without.prob, with_queries.prob)
        np.testing.assert_array_equal(without.mask, with_queries.mask)
        assert without.query_probs is None and without.query_scores is None
        assert with_queries.query_probs.shape == (num_queries, 70, 90)
        assert with_queries.query_probs.dtype == np.float32
        assert 0 <= with_queries.query_probs.min()
        assert with_queries.query_probs.max() <= 1
        assert with_queries.query_scores.shape == (num_queries, )
        assert with_queries.query_scores.sum() == pytest.approx(1, abs=1e-5)


def test_models_without_query_masks_return_none():
    torch.manual_seed(0)
    model = init_model(CRIS_TOY)
    plain = inference_model(model, _image(), SENTENCES[0])
    result = inference_model(
        model, _image(), SENTENCES[0], with_query_masks=True)
    assert result.query_probs is None and result.query_scores is None
    np.testing.assert_array_equal(plain.mask, result.mask)


def test_a_single_kernel_head_returns_no_query_masks():
    torch.manual_seed(0)
    model = init_model(
        EAVL_TOY, cfg_options={'model.decode_head.kernel_source': 'static'})
    result = inference_model(
        model, _image(), SENTENCES[0], with_query_masks=True)
    assert result.query_probs is None and result.query_scores is None
