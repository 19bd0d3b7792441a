"""A referring segmentor whose network runs in an inference backend."""
from typing import Dict, List, Optional

import torch
from mmseg.models.segmentors import BaseSegmentor
from torch import Tensor, nn

from mmrefseg.models.segmentors import ReferSegmentor
from mmrefseg.registry import MODELS
from .backends import build_backend
from .graph_io import IMAGE_INPUT
from .token_inputs import token_input_names, tokenize_texts

__all__ = ['DeployedReferSegmentor']


def _release_weights(module: nn.Module) -> None:
    """Empties the parameters of a module kept only for its tokenizer.

    The weights live in the backend's file; emptied (not deleted), the
    parameters still tell ``next(model.parameters()).device`` and follow
    ``model.to(device)``, at no memory cost (BERT-base: 440 MB).
    """
    for param in module.parameters():
        param.data = param.data.new_empty(0)


@MODELS.register_module()
class DeployedReferSegmentor(BaseSegmentor):
    """A ``ReferSegmentor`` exported to ONNX, run by ONNX Runtime or OpenVINO.

    Built from the original model config: its ``data_preprocessor`` and
    ``test_cfg`` are kept, its text encoder is built for its tokenizer only
    (no weights are loaded where the encoder loads them in
    ``init_weights``, as CLIP does; a BERT ``pretrained`` directory is read
    for its tokenizer), and everything from tokens to logits runs in the
    backend. Sentences, tokenisation and post-processing are those of
    ``ReferSegmentor``, so the masks match up to the backend's rounding.

    Args:
        model (dict): The config of the exported ``ReferSegmentor``.
        backend (str): 'onnxruntime' or 'openvino'.
        backend_file (str): The graph (``.onnx``; ``.xml`` IR for
            openvino) from :func:`mmrefseg.deploy.export_onnx`.
        precision (str): 'fp32', or 'bf16' with openvino. Defaults to
            'fp32'.
        device (str): The backend's device. Defaults to 'cpu'.
        num_threads (int, optional): The backend's intra-op threads.
            Defaults to None (the runtime's choice).
        data_preprocessor (dict, optional): Given by mmengine's Runner from
            a config's top-level ``data_preprocessor``. Defaults to None:
            the one of ``model``.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    # The same post-processing as the PyTorch model: it reads only
    # ``self.test_cfg``.
    postprocess_result = ReferSegmentor.postprocess_result

    def __init__(self,
                 model: dict,
                 backend: str,
                 backend_file: str,
                 precision: str = 'fp32',
                 device: str = 'cpu',
                 num_threads: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            data_preprocessor=data_preprocessor
            or model.get('data_preprocessor'),
            init_cfg=init_cfg)
        if 'text_encoder' not in model:
            raise KeyError('DeployedReferSegmentor needs the exported '
                           "model's config, with its `text_encoder`")
        self.text_encoder = MODELS.build(model['text_encoder'])
        _release_weights(self.text_encoder)
        self.test_cfg = model.get('test_cfg')
        self.backend = build_backend(
            backend,
            backend_file,
            device=device,
            precision=precision,
            num_threads=num_threads)
        expected = (IMAGE_INPUT, ) + token_input_names(self.text_encoder)
        if set(self.backend.input_names) != set(expected):
            raise ValueError(
                f'{backend_file} takes inputs {self.backend.input_names}, '
                f'but the config\'s {type(self.text_encoder).__name__} '
                f'gives {expected}: was it exported from another model?')

    def init_weights(self) -> None:
        """Nothing to initialise: the weights are in the backend's file."""

    def extract_feat(self, inputs: Tensor) -> None:
        """Not available: the features stay inside the backend's graph."""
        raise NotImplementedError(
            'DeployedReferSegmentor computes logits in its backend; its '
            'features are not exposed')

    def encode_decode(self, inputs: Tensor, data_samples: list) -> Tensor:
        """Mask logits of the backend.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images, or (1, 3, H, W)
                for one image described by B sentences.
            data_samples (list[:obj:`SegDataSample`]): B samples with
                ``text``.

        Returns:
            Tensor: (B, 1, h, w) float32 logits on the device of ``inputs``.
        """
        texts = ReferSegmentor._texts(data_samples)
        if inputs.shape[0] not in (1, len(texts)):
            raise ValueError(f'{inputs.shape[0]} images for {len(texts)} '
                             'sentences: give one image per sentence, or '
                             'one image for all')
        feed: Dict[str, object] = {
            IMAGE_INPUT: inputs.detach().float().contiguous().cpu().numpy()
        }
        for name, tokens in tokenize_texts(self.text_encoder, texts).items():
            feed[name] = tokens.numpy()
        logits = self.backend(feed)
        return torch.from_numpy(logits).to(inputs.device)

    def predict(self, inputs: Tensor, data_samples: list) -> List:
        """Predicts the masks at the original image sizes.

        Returns:
            list[:obj:`SegDataSample`]: ``data_samples`` with ``seg_logits``
            and ``pred_sem_seg``, as ``ReferSegmentor.predict``.
        """
        logits = self.encode_decode(inputs, data_samples)
        return self.postprocess_result(logits, data_samples,
                                       tuple(inputs.shape[-2:]))

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None) -> Tensor:
        """Tensor mode: the backend's mask logits (B, 1, h, w)."""
        return self.encode_decode(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Not available: a deployed model is for inference only."""
        raise NotImplementedError(
            'DeployedReferSegmentor runs an exported graph and cannot be '
            "trained: train the PyTorch model (type='ReferSegmentor') and "
            'export it again')
