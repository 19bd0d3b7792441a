"""Names of the exported graph's inputs, output and dynamic dimensions.

The graph of :func:`mmrefseg.deploy.export_onnx` takes ``image`` (float32
(B_img, 3, H, W), normalised as the data preprocessor does), ``token_ids``
(int64 (B, L)) and, for encoders that read one, ``attention_mask`` (int64
(B, L)); it returns ``logits`` (float32 (B, 1, h, w)). ``B_img`` is B, or 1
for one image described by B sentences: the graph broadcasts the image
features, so that image is encoded once.
"""

__all__ = [
    'IMAGE_INPUT', 'LOGITS_OUTPUT', 'BATCH_DIM', 'IMAGE_BATCH_DIM',
    'SHARED_INPUTS'
]

IMAGE_INPUT = 'image'
LOGITS_OUTPUT = 'logits'
#: Name of the sentence batch dimension in a dynamic-batch graph.
BATCH_DIM = 'batch'
#: Name of the image batch dimension in a dynamic-batch graph (B or 1).
IMAGE_BATCH_DIM = 'image_batch'
#: Inputs whose batch of 1 the graph itself broadcasts to the batch.
SHARED_INPUTS = (IMAGE_INPUT, )
